/*
 * metrics.c: request counts by route and status, a request latency
 * histogram, and the store's commit figures, in Prometheus text format.
 * Updating a count is a short linear search over a few dozen entries.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cairn.h"

static const double lat_bounds[METRICS_LAT_BUCKETS] = {
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
        0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
};

void
metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->start_ms = cairn_now_ms();
}

void
metrics_observe(struct metrics *m, const char *method, const char *route,
                int status, double seconds)
{
	struct metrics_route *r = NULL;
	int i;

	for (i = 0; i < m->nroutes; i++) {
		/* patterns come from one table, so pointers compare */
		if (m->routes[i].route == route &&
		    strcmp(m->routes[i].method, method) == 0) {
			r = &m->routes[i];
			break;
		}
	}
	if (r == NULL && m->nroutes < METRICS_MAX_ROUTES) {
		r = &m->routes[m->nroutes++];
		r->method = method;
		r->route = route;
	}
	if (r != NULL) {
		for (i = 0; i < r->nstatus && r->status[i] != status; i++)
			;
		if (i == r->nstatus && r->nstatus < METRICS_MAX_STATUSES) {
			r->status[i] = status;
			r->nstatus++;
		}
		if (i < r->nstatus)
			r->count[i]++;
	}
	for (i = 0; i < METRICS_LAT_BUCKETS && seconds > lat_bounds[i]; i++)
		;
	if (i < METRICS_LAT_BUCKETS)
		m->lat_counts[i]++;
	m->lat_count++;
	m->lat_sum += seconds;
}

void
metrics_observe_timer_lag(struct metrics *m, double seconds)
{
	int i;

	if (seconds < 0)
		seconds = 0;
	for (i = 0; i < METRICS_LAT_BUCKETS && seconds > lat_bounds[i]; i++)
		;
	if (i < METRICS_LAT_BUCKETS)
		m->lag_counts[i]++;
	m->lag_count++;
	m->lag_sum += seconds;
}

struct out {
	char *buf;
	size_t len, cap;
	int oom;
};

static void __attribute__((format(printf, 2, 3)))
out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap * 2 + (size_t)n;
		char *p = realloc(o->buf, cap);

		if (p == NULL) {
			o->oom = 1;
			return;
		}
		o->buf = p;
		o->cap = cap;
	}
}

static void
hist(struct out *o, const char *name, const char *help,
     const struct store_hist *h)
{
	out_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i < STORE_HIST_BUCKETS; i++)
		out_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
		           (unsigned long long)h->counts[i]);
	out_printf(o,
	           "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n",
	           name, (unsigned long long)h->count, name, h->sum, name,
	           (unsigned long long)h->count);
}

char *
metrics_render(const struct metrics *m, const struct store_metrics *sm,
               int connections)
{
	struct out o = {.buf = malloc(4096), .cap = 4096};
	uint64_t cum = 0;

	if (o.buf == NULL)
		return NULL;
	o.buf[0] = '\0';
	out_printf(&o, "# HELP cairn_http_requests_total HTTP requests by "
	               "route, method and status.\n"
	               "# TYPE cairn_http_requests_total counter\n");
	for (int i = 0; i < m->nroutes; i++)
		for (int j = 0; j < m->routes[i].nstatus; j++)
			out_printf(&o,
			           "cairn_http_requests_total{route=\"%s\","
			           "method=\"%s\",status=\"%d\"} %llu\n",
			           m->routes[i].route, m->routes[i].method,
			           m->routes[i].status[j],
			           (unsigned long long)m->routes[i].count[j]);
	out_printf(&o,
	           "# HELP cairn_http_request_duration_seconds Time from "
	           "a complete request to its queued response.\n"
	           "# TYPE cairn_http_request_duration_seconds histogram\n");
	for (int i = 0; i < METRICS_LAT_BUCKETS; i++) {
		cum += m->lat_counts[i];
		out_printf(
		        &o,
		        "cairn_http_request_duration_seconds_bucket{le=\"%g\"}"
		        " %llu\n",
		        lat_bounds[i], (unsigned long long)cum);
	}
	out_printf(&o,
	           "cairn_http_request_duration_seconds_bucket{le=\"+Inf\"} "
	           "%llu\ncairn_http_request_duration_seconds_sum %.6f\n"
	           "cairn_http_request_duration_seconds_count %llu\n",
	           (unsigned long long)m->lat_count, m->lat_sum,
	           (unsigned long long)m->lat_count);
	cum = 0;
	out_printf(&o, "# HELP cairn_timer_lag_seconds How long after its due "
	               "time a timer fired.\n"
	               "# TYPE cairn_timer_lag_seconds histogram\n");
	for (int i = 0; i < METRICS_LAT_BUCKETS; i++) {
		cum += m->lag_counts[i];
		out_printf(&o,
		           "cairn_timer_lag_seconds_bucket{le=\"%g\"} %llu\n",
		           lat_bounds[i], (unsigned long long)cum);
	}
	out_printf(&o,
	           "cairn_timer_lag_seconds_bucket{le=\"+Inf\"} %llu\n"
	           "cairn_timer_lag_seconds_sum %.6f\n"
	           "cairn_timer_lag_seconds_count %llu\n",
	           (unsigned long long)m->lag_count, m->lag_sum,
	           (unsigned long long)m->lag_count);
	out_printf(&o,
	           "# HELP cairn_http_connections Open client "
	           "connections.\n# TYPE cairn_http_connections gauge\n"
	           "cairn_http_connections %d\n",
	           connections);
	hist(&o, "cairn_store_commit_batch_size",
	     "Write batches group-committed per transaction.", &sm->batch_size);
	hist(&o, "cairn_store_commit_duration_seconds",
	     "Transaction time from BEGIN to durable COMMIT.",
	     &sm->commit_secs);
	out_printf(&o,
	           "# HELP cairn_store_commits_total Transactions committed.\n"
	           "# TYPE cairn_store_commits_total counter\n"
	           "cairn_store_commits_total %llu\n"
	           "# HELP cairn_store_batches_total Write batches by result.\n"
	           "# TYPE cairn_store_batches_total counter\n"
	           "cairn_store_batches_total{result=\"ok\"} %llu\n"
	           "cairn_store_batches_total{result=\"failed\"} %llu\n"
	           "# HELP cairn_store_queue_depth Batches waiting for the "
	           "writer.\n# TYPE cairn_store_queue_depth gauge\n"
	           "cairn_store_queue_depth %lld\n"
	           "# HELP cairn_store_deferred_commits_total Disclosure-only "
	           "transactions committed before their WAL fsync.\n"
	           "# TYPE cairn_store_deferred_commits_total counter\n"
	           "cairn_store_deferred_commits_total %llu\n"
	           "# HELP cairn_store_wal_syncs_total WAL fsyncs owed to "
	           "deferred commits, by result.\n"
	           "# TYPE cairn_store_wal_syncs_total counter\n"
	           "cairn_store_wal_syncs_total{result=\"ok\"} %llu\n"
	           "cairn_store_wal_syncs_total{result=\"failed\"} %llu\n"
	           "# HELP cairn_store_database_bytes Database and WAL size.\n"
	           "# TYPE cairn_store_database_bytes gauge\n"
	           "cairn_store_database_bytes %lld\n"
	           "# HELP cairn_process_start_time_seconds Start time.\n"
	           "# TYPE cairn_process_start_time_seconds gauge\n"
	           "cairn_process_start_time_seconds %.3f\n",
	           (unsigned long long)sm->commits,
	           (unsigned long long)sm->batches_ok,
	           (unsigned long long)sm->batches_failed,
	           (long long)sm->queue_depth,
	           (unsigned long long)sm->deferred_commits,
	           (unsigned long long)sm->wal_syncs,
	           (unsigned long long)sm->wal_sync_failures,
	           (long long)sm->db_bytes, (double)m->start_ms / 1000.0);
	if (o.oom) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}
