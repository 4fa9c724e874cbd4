/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"

/* A small registry of Prometheus metrics, rendered in the text exposition format 0.0.4.
 *
 * Every metric declares its labels and, for each, every value it may take, up front: a series
 * is addressed by the indexes of its label values, so updating one is an array store (no
 * allocation, no string building, no lookup by name), and no client can make a label value up.
 * Values that are cheaper to read when asked than to follow (a count of VMs by state, the
 * ledger) are set by collectors, which run at the start of every rendering. Everything runs on
 * one loop: no locking. */

#define METRIC_LABELS_MAX 3
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef enum MetricType {
        METRIC_COUNTER,
        METRIC_GAUGE,
        METRIC_HISTOGRAM,
        _METRIC_TYPE_MAX,
        _METRIC_TYPE_INVALID = -EINVAL,
} MetricType;

DECLARE_STRING_TABLE_LOOKUP(metric_type, MetricType);

enum {
        /* Series that were never updated are left out of the rendering (a counter by route,
         * method and status has many combinations that never happen). Without it every
         * combination is rendered, zeros included. */
        METRIC_SPARSE = 1 << 0,
};

typedef struct MetricLabel {
        const char *name;
        const char *const *values;
        size_t n_values;
} MetricLabel;

typedef struct MetricDef {
        const char *name;       /* counters end in _total */
        const char *help;
        MetricType type;
        unsigned flags;
        MetricLabel labels[METRIC_LABELS_MAX];
        size_t n_labels;
        /* Histograms: the upper bounds of the buckets, increasing (+Inf is implied). */
        const double *buckets;
        size_t n_buckets;
} MetricDef;

typedef struct Metrics Metrics;
typedef struct Metric Metric;

int metrics_new(Metrics **ret);
Metrics *metrics_free(Metrics *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Metrics *, metrics_free);

/* Declares a metric; everything in def is copied. -EINVAL for a name, label or bucket list
 * the format does not allow, -EEXIST for a name taken. The metric lives as long as m. */
int metrics_add(Metrics *m, const MetricDef *def, Metric **ret);

/* Runs fn at the start of every rendering, in the order added. */
typedef void (*MetricsCollectFn)(Metrics *m, void *userdata);
int metrics_add_collector(Metrics *m, MetricsCollectFn fn, void *userdata);

/* The series of the label values with these indexes (one per label, in the order declared;
 * those beyond the metric's labels are ignored). An index out of range gives
 * METRIC_SERIES_INVALID, which the updates below ignore. */
#define METRIC_SERIES_INVALID SIZE_MAX
size_t metric_series(const Metric *x, size_t i0, size_t i1, size_t i2);

/* Updates; each does nothing for a NULL metric (metrics are off) or an invalid series. A
 * counter only grows: metric_add() ignores a negative or NaN v. metric_set() is for gauges. */
void metric_add(Metric *x, size_t series, double v);
void metric_set(Metric *x, size_t series, double v);
void metric_observe(Metric *x, size_t series, double v);
static inline void metric_inc(Metric *x, size_t series) {
        metric_add(x, series, 1);
}

/* The value of a counter's or gauge's series; a histogram's count (for tests and collectors). */
double metric_value(const Metric *x, size_t series);

/* Runs the collectors and renders every metric in the order declared. */
int metrics_render(Metrics *m, char **ret, size_t *ret_size);

/* Exported for the tests. */
bool metric_name_valid(const char *s);
bool metric_label_name_valid(const char *s);
/* v as the format writes a sample value or a bucket bound: "+Inf", "-Inf", "NaN", an integer
 * without exponent while exact, else the shortest text that reads back as v. */
void metric_format_value(double v, char buf[static 32]);
/* s with \ " and newline escaped (a label value); for HELP text, quote is false and " stays. */
void metric_write_escaped(FILE *f, const char *s, bool quote);
