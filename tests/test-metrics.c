/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "metrics.h"
#include "tests.h"

static char *render(Metrics *m) {
        char *text = NULL;
        size_t size = 0;

        ASSERT_OK(metrics_render(m, &text, &size));
        ASSERT_EQ_UINT(strlen(text), size);
        return text;
}

TEST(names) {
        ASSERT_TRUE(metric_name_valid("golem_http_requests_total"));
        ASSERT_TRUE(metric_name_valid("a:b_c9"));
        ASSERT_FALSE(metric_name_valid("9lives"));
        ASSERT_FALSE(metric_name_valid("has-dash"));
        ASSERT_FALSE(metric_name_valid(""));
        ASSERT_TRUE(metric_label_name_valid("route"));
        ASSERT_FALSE(metric_label_name_valid("a:b"));
        ASSERT_FALSE(metric_label_name_valid("__reserved"));
}

TEST(definitions_refused) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        static const char *const values[] = { "x" };
        static const double unsorted[] = { 1, 0.5 };

        ASSERT_OK(metrics_new(&m));
        /* A counter's name ends in _total, and only a counter's does. */
        ASSERT_ERROR(metrics_add(m, &(MetricDef) { .name = "golem_things", .type = METRIC_COUNTER }, NULL), EINVAL);
        ASSERT_ERROR(metrics_add(m, &(MetricDef) { .name = "golem_things_total", .type = METRIC_GAUGE }, NULL), EINVAL);
        /* le is the histogram's own label; bounds increase. */
        ASSERT_ERROR(metrics_add(m, &(MetricDef) {
                                .name = "golem_h", .type = METRIC_HISTOGRAM, .buckets = (const double[]) { 1 }, .n_buckets = 1,
                                .labels = { { "le", values, 1 } }, .n_labels = 1 }, NULL), EINVAL);
        ASSERT_ERROR(metrics_add(m, &(MetricDef) {
                                .name = "golem_h", .type = METRIC_HISTOGRAM, .buckets = unsorted, .n_buckets = 2 }, NULL), EINVAL);
        ASSERT_ERROR(metrics_add(m, &(MetricDef) { .name = "golem_h", .type = METRIC_HISTOGRAM }, NULL), EINVAL);
        /* Label names: valid, not twice, with values. */
        ASSERT_ERROR(metrics_add(m, &(MetricDef) {
                                .name = "golem_g", .type = METRIC_GAUGE,
                                .labels = { { "a", values, 1 }, { "a", values, 1 } }, .n_labels = 2 }, NULL), EINVAL);
        ASSERT_ERROR(metrics_add(m, &(MetricDef) {
                                .name = "golem_g", .type = METRIC_GAUGE, .labels = { { "a", values, 0 } }, .n_labels = 1 }, NULL), EINVAL);
        ASSERT_OK(metrics_add(m, &(MetricDef) { .name = "golem_g", .type = METRIC_GAUGE }, NULL));
        ASSERT_ERROR(metrics_add(m, &(MetricDef) { .name = "golem_g", .type = METRIC_GAUGE }, NULL), EEXIST);
}

TEST(counter_and_escaping) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_free_ char *text = NULL;
        static const char *const routes[] = { "/a", "quote\" back\\slash new\nline" };
        static const char *const methods[] = { "GET", "POST" };
        Metric *c;

        ASSERT_OK(metrics_new(&m));
        ASSERT_OK(metrics_add(m, &(MetricDef) {
                        .name = "golem_requests_total",
                        .help = "Requests, by \"route\" \\ method.\nSecond line.",
                        .type = METRIC_COUNTER,
                        .flags = METRIC_SPARSE,
                        .labels = { { "route", routes, 2 }, { "method", methods, 2 } },
                        .n_labels = 2,
                }, &c));
        metric_inc(c, metric_series(c, 1, 1, 0));
        metric_add(c, metric_series(c, 1, 1, 0), 2);
        metric_add(c, metric_series(c, 1, 1, 0), -5);          /* a counter does not go down */
        metric_inc(c, metric_series(c, 2, 0, 0));               /* no such route: ignored */
        ASSERT_EQ_UINT(metric_series(c, 0, 2, 0), METRIC_SERIES_INVALID);
        metric_inc(NULL, 0);                                    /* metrics off */

        text = render(m);
        ASSERT_STREQ(text,
                     "# HELP golem_requests_total Requests, by \"route\" \\\\ method.\\nSecond line.\n"
                     "# TYPE golem_requests_total counter\n"
                     "golem_requests_total{route=\"quote\\\" back\\\\slash new\\nline\",method=\"POST\"} 3\n");
}

TEST(dense_gauge_shows_zeros) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_free_ char *text = NULL;
        static const char *const states[] = { "creating", "running" };
        Metric *g, *plain;

        ASSERT_OK(metrics_new(&m));
        ASSERT_OK(metrics_add(m, &(MetricDef) {
                        .name = "golem_vms", .help = "VMs.", .type = METRIC_GAUGE,
                        .labels = { { "state", states, 2 } }, .n_labels = 1,
                }, &g));
        ASSERT_OK(metrics_add(m, &(MetricDef) {
                        .name = "golem_last_seconds", .help = "When.", .type = METRIC_GAUGE, .flags = METRIC_SPARSE,
                }, &plain));
        metric_set(g, metric_series(g, 1, 0, 0), 4);
        metric_set(g, metric_series(g, 1, 0, 0), 3);
        metric_add(g, metric_series(g, 1, 0, 0), -1);           /* a gauge does */
        metric_set(plain, 0, 1764900000);

        text = render(m);
        ASSERT_STREQ(text,
                     "# HELP golem_vms VMs.\n"
                     "# TYPE golem_vms gauge\n"
                     "golem_vms{state=\"creating\"} 0\n"
                     "golem_vms{state=\"running\"} 2\n"
                     "# HELP golem_last_seconds When.\n"
                     "# TYPE golem_last_seconds gauge\n"
                     "golem_last_seconds 1764900000\n");
}

TEST(histogram) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_free_ char *text = NULL;
        static const char *const ops[] = { "get", "put" };
        static const double bounds[] = { 0.005, 0.1, 1 };
        Metric *h;
        size_t put;

        ASSERT_OK(metrics_new(&m));
        ASSERT_OK(metrics_add(m, &(MetricDef) {
                        .name = "golem_store_seconds", .help = "Latency.", .type = METRIC_HISTOGRAM,
                        .flags = METRIC_SPARSE, .labels = { { "operation", ops, 2 } }, .n_labels = 1,
                        .buckets = bounds, .n_buckets = ELEMENTSOF(bounds),
                }, &h));
        put = metric_series(h, 1, 0, 0);
        metric_observe(h, put, 0.005);  /* at the bound: in its bucket */
        metric_observe(h, put, 0.05);
        metric_observe(h, put, 0.25);
        metric_observe(h, put, 30);     /* above every bound: +Inf only */
        metric_observe(h, put, NAN);    /* ignored */
        ASSERT_TRUE(metric_value(h, put) == 4);

        text = render(m);
        ASSERT_STREQ(text,
                     "# HELP golem_store_seconds Latency.\n"
                     "# TYPE golem_store_seconds histogram\n"
                     "golem_store_seconds_bucket{operation=\"put\",le=\"0.005\"} 1\n"
                     "golem_store_seconds_bucket{operation=\"put\",le=\"0.1\"} 2\n"
                     "golem_store_seconds_bucket{operation=\"put\",le=\"1\"} 3\n"
                     "golem_store_seconds_bucket{operation=\"put\",le=\"+Inf\"} 4\n"
                     "golem_store_seconds_sum{operation=\"put\"} 30.305\n"
                     "golem_store_seconds_count{operation=\"put\"} 4\n");
}

TEST(values) {
        static const struct {
                double v;
                const char *text;
        } table[] = {
                { 0, "0" },
                { -3, "-3" },
                { 0.1, "0.1" },
                { 2.5e-7, "2.5e-07" },
                { 1764900000.25, "1764900000.25" },
                { 9007199254740992.0, "9007199254740992" },
                { 1.5e17, "1.5e+17" },
                { 1e300, "1e+300" },
                { INFINITY, "+Inf" },
                { -INFINITY, "-Inf" },
                { NAN, "NaN" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                char buf[32];

                TEST_CONTEXT("%s", table[i].text);
                metric_format_value(table[i].v, buf);
                ASSERT_STREQ(buf, table[i].text);
                if (!isnan(table[i].v))
                        ASSERT_TRUE(strtod(buf[0] == '+' ? buf + 1 : buf, NULL) == table[i].v);
        }
}

static void collect(Metrics *m, void *userdata) {
        Metric *g = userdata;

        metric_set(g, 0, metric_value(g, 0) + 1);
}

TEST(collectors_run_at_each_rendering) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        Metric *g;

        ASSERT_OK(metrics_new(&m));
        ASSERT_OK(metrics_add(m, &(MetricDef) { .name = "golem_scrapes", .help = "Renderings.", .type = METRIC_GAUGE }, &g));
        ASSERT_OK(metrics_add_collector(m, collect, g));
        for (int i = 1; i <= 2; i++) {
                _cleanup_free_ char *text = render(m);
                char want[128];

                snprintf(want, sizeof(want), "golem_scrapes %d\n", i);
                ASSERT_TRUE(endswith(text, want));
        }
}


