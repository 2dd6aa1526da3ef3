/*
 * metrics.h: counters and histograms kept on the loop thread, written out
 * in the Prometheus text format for GET /metrics.
 */
#ifndef CAIRN_METRICS_H
#define CAIRN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"

#define METRICS_MAX_ROUTES   64
#define METRICS_MAX_STATUSES 16
#define METRICS_LAT_BUCKETS  14

struct metrics_route {
	const char *method;
	const char *route;
	int status[METRICS_MAX_STATUSES];
	uint64_t count[METRICS_MAX_STATUSES];
	int nstatus;
};

struct metrics {
	struct metrics_route routes[METRICS_MAX_ROUTES];
	int nroutes;
	uint64_t lat_counts[METRICS_LAT_BUCKETS]; /* not cumulative */
	uint64_t lat_count;
	double lat_sum;
	/* how late timers fire: due time to the scan that picks them up */
	uint64_t lag_counts[METRICS_LAT_BUCKETS];
	uint64_t lag_count;
	double lag_sum;
	int64_t start_ms;
};

void metrics_init(struct metrics *m);

/* Counts one request. route is a pattern from the route table (or
 * "unmatched"), stored by pointer: it must outlive m. */
void metrics_observe(struct metrics *m, const char *method, const char *route,
                     int status, double seconds);

/* Counts one timer that fired seconds after it was due. */
void metrics_observe_timer_lag(struct metrics *m, double seconds);

/* Renders everything, with the store's figures and the open connections,
 * into a malloc'd string the caller frees (NULL on no memory). */
char *metrics_render(const struct metrics *m, const struct store_metrics *sm,
                     int connections);

#endif
