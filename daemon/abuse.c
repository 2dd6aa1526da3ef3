/*
 * abuse.c: token buckets and bad-token counts in fixed set-associative
 * tables (see abuse.h).
 */
#include "abuse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <uv.h>

#define ABUSE_SETS 2048 /* per kind; a power of two */
#define ABUSE_WAYS 4
#define ABUSE_KEY  64 /* token ids and addresses are shorter */

struct slot {
	char key[ABUSE_KEY]; /* "" when free */
	double level;        /* requests in the bucket, or failures */
	int64_t at_ms;       /* when level was last brought up to date */
};

struct abuse {
	struct abuse_limits cfg;
	uint64_t seed;
	struct slot *slots[ABUSE_KINDS]; /* ABUSE_SETS * ABUSE_WAYS each */
};

struct abuse *
abuse_new(const struct abuse_limits *cfg)
{
	struct abuse *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->cfg = *cfg;
	/* a secret seed: a client cannot pick keys that share a set */
	if (RAND_bytes((unsigned char *)&a->seed, sizeof(a->seed)) != 1)
		a->seed = uv_hrtime() * 0x9e3779b97f4a7c15ull;
	for (int k = 0; k < ABUSE_KINDS; k++) {
		a->slots[k] =
		        calloc(ABUSE_SETS * ABUSE_WAYS, sizeof(struct slot));
		if (a->slots[k] == NULL) {
			abuse_free(a);
			return NULL;
		}
	}
	return a;
}

void
abuse_free(struct abuse *a)
{
	if (a == NULL)
		return;
	for (int k = 0; k < ABUSE_KINDS; k++)
		free(a->slots[k]);
	free(a);
}

static uint64_t
hash(const struct abuse *a, const char *key)
{
	/* FNV-1a over the seed and the key, then a final mix */
	uint64_t h = 0xcbf29ce484222325ull ^ a->seed;

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* key's slot of kind; with create, a new one (fresh is set) in place of
 * the set's longest idle when it has none. NULL when absent. */
static struct slot *
find(struct abuse *a, enum abuse_kind kind, const char *key, int create,
     int *fresh)
{
	struct slot *set =
	        a->slots[kind] + (hash(a, key) & (ABUSE_SETS - 1)) * ABUSE_WAYS;
	struct slot *victim = NULL;

	for (int w = 0; w < ABUSE_WAYS; w++) {
		if (set[w].key[0] && strncmp(set[w].key, key, ABUSE_KEY) == 0)
			return &set[w];
		if (victim == NULL || !set[w].key[0] ||
		    (victim->key[0] && set[w].at_ms < victim->at_ms))
			victim = &set[w];
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	strncpy(victim->key, key, ABUSE_KEY - 1);
	*fresh = 1;
	return victim;
}

static int
seconds_up(double s)
{
	double c = ceil(s);

	return c < 1 ? 1 : c > 86400 ? 86400 : (int)c;
}

int
abuse_take(struct abuse *a, enum abuse_kind kind, const char *key,
           int64_t now_ms)
{
	double rate =
	        kind == ABUSE_TOKEN ? a->cfg.token_rate : a->cfg.address_rate;
	double burst =
	        kind == ABUSE_TOKEN ? a->cfg.token_burst : a->cfg.address_burst;
	struct slot *s;
	int fresh = 0;

	if (rate <= 0 || key == NULL || key[0] == '\0')
		return 0;
	if (burst < 1)
		burst = 1;
	s = find(a, kind, key, 1, &fresh);
	if (fresh)
		s->level = burst;
	else if (now_ms > s->at_ms)
		s->level = fmin(burst, s->level + (double)(now_ms - s->at_ms) *
		                                          rate / 1000.0);
	s->at_ms = now_ms;
	if (s->level >= 1) {
		s->level -= 1;
		return 0;
	}
	return seconds_up((1 - s->level) / rate);
}

/* Brings s's failure count down by what has been forgiven since. */
static void
forgive(const struct abuse *a, struct slot *s, int64_t now_ms)
{
	if (a->cfg.bad_token_forgive_ms > 0 && now_ms > s->at_ms)
		s->level =
		        fmax(0, s->level - (double)(now_ms - s->at_ms) /
		                                   a->cfg.bad_token_forgive_ms);
	s->at_ms = now_ms;
}

int64_t
abuse_bad_token(struct abuse *a, const char *addr, int64_t now_ms)
{
	struct slot *s;
	int fresh = 0;
	double over;
	int64_t delay;

	if (addr == NULL || addr[0] == '\0')
		return 0;
	s = find(a, ABUSE_BAD_TOKEN, addr, 1, &fresh);
	forgive(a, s, now_ms);
	s->level += 1;
	/* whole failures: forgiveness since the last one is fractional */
	over = ceil(s->level - 1e-6) - a->cfg.bad_token_free;
	if (over <= 0 || a->cfg.bad_token_delay_ms <= 0)
		return 0;
	/* doubling per failure past the free ones, capped */
	delay = a->cfg.bad_token_delay_ms;
	for (int i = 1; i < (int)over && delay < a->cfg.bad_token_max_delay_ms;
	     i++)
		delay *= 2;
	return delay < a->cfg.bad_token_max_delay_ms
	               ? delay
	               : a->cfg.bad_token_max_delay_ms;
}

int
abuse_blocked(struct abuse *a, const char *addr, int64_t now_ms)
{
	struct slot *s;
	int fresh = 0;

	if (a->cfg.bad_token_block <= 0 || addr == NULL || addr[0] == '\0')
		return 0;
	s = find(a, ABUSE_BAD_TOKEN, addr, 0, &fresh);
	if (s == NULL)
		return 0;
	forgive(a, s, now_ms);
	/* whole failures, as abuse_bad_token counts them */
	if (ceil(s->level - 1e-6) < a->cfg.bad_token_block)
		return 0;
	/* until the count falls below the threshold again */
	return seconds_up((s->level - a->cfg.bad_token_block + 1) *
	                  (double)a->cfg.bad_token_forgive_ms / 1000.0);
}
