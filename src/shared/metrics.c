/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define METRICS_MAX 128
#define COLLECTORS_MAX 16
#define LABEL_VALUES_MAX 1024
#define SERIES_MAX 65536
#define BUCKETS_MAX 64

struct Metric {
        char *name, *help;
        MetricType type;
        unsigned flags;
        char *label_names[METRIC_LABELS_MAX];
        char **label_values[METRIC_LABELS_MAX];
        size_t n_label_values[METRIC_LABELS_MAX];
        size_t n_labels;
        size_t n_series;
        double *bounds;         /* histograms */
        size_t n_buckets;       /* without +Inf */

        uint8_t *touched;       /* per series */
        double *values;         /* counters and gauges: per series; histograms: sums */
        uint64_t *counts;       /* histograms: per series, n_buckets + 1 (non-cumulative, the
                                 * last is above every bound) */
};

struct Metrics {
        Metric *metrics[METRICS_MAX];
        size_t n_metrics;
        struct {
                MetricsCollectFn fn;
                void *userdata;
        } collectors[COLLECTORS_MAX];
        size_t n_collectors;
};

static const char *const metric_type_table[_METRIC_TYPE_MAX] = {
        [METRIC_COUNTER] = "counter",
        [METRIC_GAUGE] = "gauge",
        [METRIC_HISTOGRAM] = "histogram",
};

DEFINE_STRING_TABLE_LOOKUP(metric_type, MetricType);

static bool name_valid(const char *s, bool colon) {
        if (isempty(s))
                return false;
        for (const char *p = s; *p; p++) {
                bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || (colon && *p == ':');

                if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
                        return false;
        }
        return true;
}

bool metric_name_valid(const char *s) {
        return name_valid(s, true);
}

bool metric_label_name_valid(const char *s) {
        /* Names beginning with __ are the format's own. */
        return name_valid(s, false) && !startswith(s, "__");
}

static Metric *metric_free(Metric *x) {
        if (!x)
                return NULL;
        free(x->name);
        free(x->help);
        for (size_t i = 0; i < x->n_labels; i++) {
                free(x->label_names[i]);
                for (size_t k = 0; x->label_values[i] && k < x->n_label_values[i]; k++)
                        free(x->label_values[i][k]);
                free(x->label_values[i]);
        }
        free(x->bounds);
        free(x->touched);
        free(x->values);
        free(x->counts);
        free(x);
        return NULL;
}

int metrics_new(Metrics **ret) {
        Metrics *m = calloc(1, sizeof(*m));

        if (!m)
                return -ENOMEM;
        *ret = m;
        return 0;
}

Metrics *metrics_free(Metrics *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_metrics; i++)
                metric_free(m->metrics[i]);
        free(m);
        return NULL;
}

static int def_check(const Metrics *m, const MetricDef *def, size_t *ret_series) {
        size_t n = 1;

        if (!metric_name_valid(def->name) || def->type < 0 || def->type >= _METRIC_TYPE_MAX ||
            def->n_labels > METRIC_LABELS_MAX)
                return -EINVAL;
        /* A counter's samples are NAME_total; a histogram's add _bucket, _sum and _count. */
        if ((def->type == METRIC_COUNTER) != !!endswith(def->name, "_total"))
                return -EINVAL;
        for (size_t i = 0; i < def->n_labels; i++) {
                const MetricLabel *l = def->labels + i;

                if (!metric_label_name_valid(l->name) || l->n_values == 0 || l->n_values > LABEL_VALUES_MAX ||
                    (def->type == METRIC_HISTOGRAM && streq(l->name, "le")))
                        return -EINVAL;
                for (size_t k = 0; k < i; k++)
                        if (streq(def->labels[k].name, l->name))
                                return -EINVAL;
                for (size_t k = 0; k < l->n_values; k++)
                        if (!l->values[k])
                                return -EINVAL;
                if (n > SERIES_MAX / l->n_values)
                        return -E2BIG;
                n *= l->n_values;
        }
        if (def->type == METRIC_HISTOGRAM) {
                if (def->n_buckets == 0 || def->n_buckets > BUCKETS_MAX)
                        return -EINVAL;
                for (size_t i = 0; i < def->n_buckets; i++)
                        if (!isfinite(def->buckets[i]) || (i > 0 && def->buckets[i] <= def->buckets[i - 1]))
                                return -EINVAL;
        } else if (def->n_buckets > 0)
                return -EINVAL;
        for (size_t i = 0; i < m->n_metrics; i++)
                if (streq(m->metrics[i]->name, def->name))
                        return -EEXIST;
        *ret_series = n;
        return 0;
}

int metrics_add(Metrics *m, const MetricDef *def, Metric **ret) {
        Metric *x;
        size_t n;
        int r;

        r = def_check(m, def, &n);
        if (r < 0)
                return r;
        if (m->n_metrics >= METRICS_MAX)
                return -E2BIG;

        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        x->type = def->type;
        x->flags = def->flags;
        x->n_series = n;
        x->name = strdup(def->name);
        x->help = strdup(strempty(def->help));
        x->touched = calloc(n, 1);
        x->values = calloc(n, sizeof(double));
        if (!x->name || !x->help || !x->touched || !x->values)
                goto oom;
        for (size_t i = 0; i < def->n_labels; i++) {
                x->n_labels++;
                x->label_names[i] = strdup(def->labels[i].name);
                x->label_values[i] = calloc(def->labels[i].n_values, sizeof(char *));
                if (!x->label_names[i] || !x->label_values[i])
                        goto oom;
                x->n_label_values[i] = def->labels[i].n_values;
                for (size_t k = 0; k < def->labels[i].n_values; k++) {
                        x->label_values[i][k] = strdup(def->labels[i].values[k]);
                        if (!x->label_values[i][k])
                                goto oom;
                }
        }
        if (def->type == METRIC_HISTOGRAM) {
                x->n_buckets = def->n_buckets;
                x->bounds = malloc(def->n_buckets * sizeof(double));
                x->counts = calloc(n * (def->n_buckets + 1), sizeof(uint64_t));
                if (!x->bounds || !x->counts)
                        goto oom;
                memcpy(x->bounds, def->buckets, def->n_buckets * sizeof(double));
        }

        m->metrics[m->n_metrics++] = x;
        if (ret)
                *ret = x;
        return 0;

oom:
        metric_free(x);
        return -ENOMEM;
}

int metrics_add_collector(Metrics *m, MetricsCollectFn fn, void *userdata) {
        if (m->n_collectors >= COLLECTORS_MAX)
                return -E2BIG;
        m->collectors[m->n_collectors].fn = fn;
        m->collectors[m->n_collectors].userdata = userdata;
        m->n_collectors++;
        return 0;
}

size_t metric_series(const Metric *x, size_t i0, size_t i1, size_t i2) {
        const size_t idx[METRIC_LABELS_MAX] = { i0, i1, i2 };
        size_t s = 0;

        if (!x)
                return METRIC_SERIES_INVALID;
        /* The first label varies slowest, as the rendering lists them. */
        for (size_t i = 0; i < x->n_labels; i++) {
                if (idx[i] >= x->n_label_values[i])
                        return METRIC_SERIES_INVALID;
                s = s * x->n_label_values[i] + idx[i];
        }
        return s;
}

void metric_add(Metric *x, size_t series, double v) {
        if (!x || series >= x->n_series || x->type == METRIC_HISTOGRAM)
                return;
        if (x->type == METRIC_COUNTER && !(v >= 0))
                return;
        x->values[series] += v;
        x->touched[series] = 1;
}

void metric_set(Metric *x, size_t series, double v) {
        if (!x || series >= x->n_series || x->type != METRIC_GAUGE)
                return;
        x->values[series] = v;
        x->touched[series] = 1;
}

void metric_observe(Metric *x, size_t series, double v) {
        uint64_t *c;
        size_t b = 0;

        if (!x || series >= x->n_series || x->type != METRIC_HISTOGRAM || isnan(v))
                return;
        /* A bucket holds what is at most its bound. */
        while (b < x->n_buckets && v > x->bounds[b])
                b++;
        c = x->counts + series * (x->n_buckets + 1);
        c[b]++;
        x->values[series] += v;
        x->touched[series] = 1;
}

double metric_value(const Metric *x, size_t series) {
        uint64_t n = 0;

        if (!x || series >= x->n_series)
                return NAN;
        if (x->type != METRIC_HISTOGRAM)
                return x->values[series];
        for (size_t b = 0; b <= x->n_buckets; b++)
                n += x->counts[series * (x->n_buckets + 1) + b];
        return (double) n;
}

/* ---- rendering ---- */

void metric_format_value(double v, char buf[static 32]) {
        if (isnan(v)) {
                strcpy(buf, "NaN");
                return;
        }
        if (isinf(v)) {
                strcpy(buf, v > 0 ? "+Inf" : "-Inf");
                return;
        }
        /* Integers (counts, bytes, seconds since the epoch) in full while a double holds them
         * exactly; anything else in the fewest digits that read back as the same double. */
        if (v == nearbyint(v) && fabs(v) < 9007199254740992.0) {
                snprintf(buf, 32, "%.0f", v);
                return;
        }
        for (int p = 1; p <= 17; p++) {
                snprintf(buf, 32, "%.*g", p, v);
                if (strtod(buf, NULL) == v)
                        return;
        }
}

void metric_write_escaped(FILE *f, const char *s, bool quote) {
        for (; *s; s++)
                if (*s == '\\')
                        fputs("\\\\", f);
                else if (*s == '\n')
                        fputs("\\n", f);
                else if (quote && *s == '"')
                        fputs("\\\"", f);
                else
                        fputc(*s, f);
}

/* NAME{l1="v1",l2="v2"[,le="b"]} VALUE */
static void write_sample(FILE *f, const Metric *x, const char *suffix, size_t series, const char *le, double v) {
        size_t idx[METRIC_LABELS_MAX];
        char value[32];
        bool any = false;

        /* The label value indexes of the series, the last label varying fastest. */
        for (size_t i = x->n_labels; i > 0; i--) {
                idx[i - 1] = series % x->n_label_values[i - 1];
                series /= x->n_label_values[i - 1];
        }

        fputs(x->name, f);
        fputs(suffix, f);
        for (size_t i = 0; i < x->n_labels; i++) {
                fprintf(f, "%s%s=\"", any ? "," : "{", x->label_names[i]);
                metric_write_escaped(f, x->label_values[i][idx[i]], true);
                fputc('"', f);
                any = true;
        }
        if (le) {
                fprintf(f, "%sle=\"%s\"", any ? "," : "{", le);
                any = true;
        }
        if (any)
                fputc('}', f);
        metric_format_value(v, value);
        fprintf(f, " %s\n", value);
}

static void render_metric(FILE *f, const Metric *x) {
        fprintf(f, "# HELP %s ", x->name);
        metric_write_escaped(f, x->help, false);
        fprintf(f, "\n# TYPE %s %s\n", x->name, metric_type_to_string(x->type));

        for (size_t s = 0; s < x->n_series; s++) {
                const uint64_t *c;
                uint64_t cumulative = 0;
                char le[32];

                /* A metric without labels has one series, always shown. */
                if ((x->flags & METRIC_SPARSE) && x->n_labels > 0 && !x->touched[s])
                        continue;
                if (x->type != METRIC_HISTOGRAM) {
                        write_sample(f, x, "", s, NULL, x->values[s]);
                        continue;
                }
                c = x->counts + s * (x->n_buckets + 1);
                for (size_t b = 0; b < x->n_buckets; b++) {
                        cumulative += c[b];
                        metric_format_value(x->bounds[b], le);
                        write_sample(f, x, "_bucket", s, le, (double) cumulative);
                }
                cumulative += c[x->n_buckets];
                write_sample(f, x, "_bucket", s, "+Inf", (double) cumulative);
                write_sample(f, x, "_sum", s, NULL, x->values[s]);
                write_sample(f, x, "_count", s, NULL, (double) cumulative);
        }
}

int metrics_render(Metrics *m, char **ret, size_t *ret_size) {
        char *text = NULL;
        size_t size = 0;
        FILE *f;

        for (size_t i = 0; i < m->n_collectors; i++)
                m->collectors[i].fn(m, m->collectors[i].userdata);

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_metrics; i++)
                render_metric(f, m->metrics[i]);
        if (fflush(f) != 0 || ferror(f)) {
                fclose(f);
                free(text);
                return -ENOMEM;
        }
        fclose(f);
        *ret = text;
        if (ret_size)
                *ret_size = size;
        return 0;
}
