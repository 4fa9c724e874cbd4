/* SPDX-License-Identifier: MIT */
/* golemctl's choice of a provider (best fit, stable tie-break) and how it prints tables. */
#include "golemctl-output.h"
#include "golemctl-providers.h"
#include "golemctl-verbs.h"
#include "json-util.h"
#include "tests.h"

static Advertisement ad(const char *id, const char *country, int64_t cpu, int64_t memory, int64_t storage) {
        Advertisement a = {
                .resources = { cpu, memory, storage },
        };

        snprintf(a.provider_id, sizeof(a.provider_id), "%s", id);
        snprintf(a.country, sizeof(a.country), "%s", country);
        snprintf(a.ip_address, sizeof(a.ip_address), "192.0.2.1");
        return a;
}

static const char *choose(const Advertisement *ads, size_t n, Resources want, const char *country) {
        ProviderChoice c;

        if (provider_choose(ads, n, &want, country, &c) < 0)
                return NULL;
        return ads[c.index].provider_id;
}

TEST(fits) {
        Advertisement a = ad("p", "SE", 4, 8, 40);

        ASSERT_TRUE(advertisement_fits(&a, &(Resources) { 4, 8, 40 }, NULL));
        ASSERT_TRUE(advertisement_fits(&a, &(Resources) { 1, 1, 10 }, ""));
        ASSERT_TRUE(advertisement_fits(&a, &(Resources) { 1, 1, 10 }, "se"));
        ASSERT_FALSE(advertisement_fits(&a, &(Resources) { 1, 1, 10 }, "DE"));
        ASSERT_FALSE(advertisement_fits(&a, &(Resources) { 5, 8, 40 }, NULL));
        ASSERT_FALSE(advertisement_fits(&a, &(Resources) { 4, 9, 40 }, NULL));
        ASSERT_FALSE(advertisement_fits(&a, &(Resources) { 4, 8, 41 }, NULL));
}

TEST(best_fit_least_left_over) {
        Advertisement ads[] = {
                ad("big", "SE", 16, 32, 200),
                ad("snug", "SE", 4, 8, 40),
                ad("tiny", "SE", 1, 1, 10),     /* does not fit */
                ad("mid", "SE", 8, 16, 80),
        };
        ProviderChoice c;

        ASSERT_OK(provider_choose(ads, ELEMENTSOF(ads), &(Resources) { 2, 4, 20 }, NULL, &c));
        ASSERT_STREQ(ads[c.index].provider_id, "snug");
        ASSERT_EQ_UINT(c.n_fit, 3);
        ASSERT_EQ_UINT(c.n_tied, 0);

        /* An exact fit is the best there is. */
        ASSERT_STREQ(choose(ads, ELEMENTSOF(ads), (Resources) { 1, 1, 10 }, NULL), "tiny");
        /* Only big fits this. */
        ASSERT_STREQ(choose(ads, ELEMENTSOF(ads), (Resources) { 10, 1, 1 }, NULL), "big");
        /* Nobody fits this. */
        ASSERT_ERROR(provider_choose(ads, ELEMENTSOF(ads), &(Resources) { 17, 1, 1 }, NULL, &c), ENOENT);
        ASSERT_ERROR(provider_choose(ads, 0, &(Resources) { 1, 1, 1 }, NULL, &c), ENOENT);
        /* A request below 1 is no request. */
        ASSERT_ERROR(provider_choose(ads, ELEMENTSOF(ads), &(Resources) { 0, 1, 1 }, NULL, &c), EINVAL);
}

TEST(leftover_is_normalised) {
        /* For 1 CPU / 1 GB / 100 GB: 8 spare CPUs weigh 8 requests; 100 spare GB of storage weigh
         * one. So "cpu-rich" (9, 1, 100: 9+1+1 = 11) loses to "disk-rich" (1, 1, 300: 1+1+3 = 5),
         * though it has less to spare in absolute numbers. */
        Advertisement ads[] = {
                ad("cpu-rich", "SE", 9, 1, 100),
                ad("disk-rich", "SE", 1, 1, 300),
        };

        ASSERT_STREQ(choose(ads, ELEMENTSOF(ads), (Resources) { 1, 1, 100 }, NULL), "disk-rich");
}

TEST(country_filter) {
        Advertisement ads[] = {
                ad("se-big", "SE", 16, 32, 200),
                ad("de-snug", "DE", 2, 4, 20),
        };

        ASSERT_STREQ(choose(ads, ELEMENTSOF(ads), (Resources) { 2, 4, 20 }, NULL), "de-snug");
        ASSERT_STREQ(choose(ads, ELEMENTSOF(ads), (Resources) { 2, 4, 20 }, "SE"), "se-big");
        ASSERT_STREQ(choose(ads, ELEMENTSOF(ads), (Resources) { 2, 4, 20 }, "se"), "se-big");
        ASSERT_NULL(choose(ads, ELEMENTSOF(ads), (Resources) { 2, 4, 20 }, "FR"));
}

TEST(tie_break_by_provider_id_in_any_order) {
        /* Same score three ways, for every order of the board: the lowest id wins. */
        static const int orders[][3] = {
                { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 },
        };
        Advertisement base[] = {
                ad("prov-c", "SE", 8, 16, 100),
                ad("prov-a", "SE", 8, 16, 100),
                ad("prov-b", "SE", 8, 16, 100),
        };

        for (size_t i = 0; i < ELEMENTSOF(orders); i++) {
                Advertisement ads[3];
                ProviderChoice c;

                TEST_CONTEXT("order %zu", i);
                for (size_t k = 0; k < 3; k++)
                        ads[k] = base[orders[i][k]];
                ASSERT_OK(provider_choose(ads, 3, &(Resources) { 1, 1, 10 }, NULL, &c));
                ASSERT_STREQ(ads[c.index].provider_id, "prov-a");
                ASSERT_EQ_UINT(c.n_fit, 3);
                ASSERT_EQ_UINT(c.n_tied, 2);
        }
}

TEST(tie_is_exact) {
        /* 6/3 + 3/3 + 3/3 = 3/3 + 6/3 + 3/3 = 4/3 * 3 = 4 exactly; summing doubles would make
         * the last one 3.9999999999999996 and let rounding pick it. */
        Advertisement ads[] = {
                ad("z-thirds", "SE", 4, 4, 4),
                ad("b-cpu", "SE", 6, 3, 3),
                ad("a-mem", "SE", 3, 6, 3),
        };
        ProviderChoice c;

        ASSERT_OK(provider_choose(ads, ELEMENTSOF(ads), &(Resources) { 3, 3, 3 }, NULL, &c));
        ASSERT_STREQ(ads[c.index].provider_id, "a-mem");
        ASSERT_EQ_UINT(c.n_tied, 2);

        /* A strictly better one after a tie resets the count. */
        Advertisement more[] = {
                ad("b", "SE", 6, 3, 3),
                ad("a", "SE", 3, 6, 3),
                ad("z", "SE", 3, 3, 3),
        };
        ASSERT_OK(provider_choose(more, ELEMENTSOF(more), &(Resources) { 3, 3, 3 }, NULL, &c));
        ASSERT_STREQ(more[c.index].provider_id, "z");
        ASSERT_EQ_UINT(c.n_tied, 0);
}

TEST(no_overflow_with_huge_numbers) {
        /* The largest resources the board can carry, the largest request: scores of ~2^95
         * must still compare right. */
        Advertisement ads[] = {
                ad("max", "SE", 2147483647, 2147483647, 2147483647),
                ad("one-less", "SE", 2147483647, 2147483647, 2147483646),
        };
        Resources want = { 2147483646, 2147483646, 2147483646 };

        ASSERT_STREQ(choose(ads, ELEMENTSOF(ads), want, NULL), "one-less");
        ASSERT_TRUE(advertisement_fit_compare(ads + 0, ads + 1, &want) > 0);
        ASSERT_TRUE(advertisement_fit_compare(ads + 1, ads + 0, &want) < 0);
        ASSERT_EQ_INT(advertisement_fit_compare(ads + 0, ads + 0, &want), 0);
}

/* ---- tables ---- */

static Table *sample_table(void) {
        Table *t;

        ASSERT_OK(table_new((const char *const[]) { "NAME", "STATUS", "CPU" }, 3, &t));
        ASSERT_OK(table_set_align_right(t, 2, true));
        ASSERT_OK(table_add_cell(t, "web", TABLE_COLOR_DEFAULT));
        ASSERT_OK(table_add_cell(t, "running", TABLE_COLOR_GREEN));
        ASSERT_OK(table_add_cellf(t, TABLE_COLOR_DEFAULT, "%d", 2));
        ASSERT_OK(table_add_cell(t, "database", TABLE_COLOR_DEFAULT));
        ASSERT_OK(table_add_cell(t, NULL, TABLE_COLOR_RED));
        ASSERT_OK(table_add_cellf(t, TABLE_COLOR_DEFAULT, "%d", 128));
        return t;
}

TEST(table_aligned) {
        _cleanup_table_ Table *t = sample_table();
        _cleanup_free_ char *s = NULL;

        ASSERT_EQ_UINT(table_n_rows(t), 2);
        ASSERT_OK(table_format(t, true, false, &s));
        ASSERT_STREQ(s,
                     "NAME      STATUS   CPU\n"
                     "web       running    2\n"
                     "database  -        128\n");
}

TEST(table_without_header) {
        _cleanup_table_ Table *t = sample_table();
        _cleanup_free_ char *s = NULL;

        ASSERT_OK(table_format(t, false, false, &s));
        ASSERT_STREQ(s,
                     "web       running    2\n"
                     "database  -        128\n");
}

TEST(table_colors) {
        _cleanup_table_ Table *t = sample_table();
        _cleanup_free_ char *s = NULL;

        ASSERT_OK(table_format(t, true, true, &s));
        ASSERT_STR_CONTAINS(s, ANSI_BOLD "NAME");
        /* Colour codes do not count towards the width. */
        ASSERT_STR_CONTAINS(s, "web       " ANSI_GREEN "running" ANSI_NORMAL "    2\n");
        ASSERT_STR_CONTAINS(s, "database  " ANSI_RED "-" ANSI_NORMAL "        128\n");
}

TEST(table_no_trailing_blanks_and_utf8) {
        _cleanup_table_ Table *t = NULL;
        _cleanup_free_ char *s = NULL;

        ASSERT_OK(table_new((const char *const[]) { "A", "B" }, 2, &t));
        ASSERT_OK(table_add_cell(t, "åäö", TABLE_COLOR_DEFAULT));
        ASSERT_OK(table_add_cell(t, "x", TABLE_COLOR_DEFAULT));
        ASSERT_OK(table_add_cell(t, "abcd", TABLE_COLOR_DEFAULT));
        ASSERT_OK(table_add_cell(t, "", TABLE_COLOR_DEFAULT));
        ASSERT_OK(table_format(t, true, false, &s));
        ASSERT_STREQ(s,
                     "A     B\n"
                     "åäö   x\n"
                     "abcd\n");
        ASSERT_EQ_UINT(utf8_width("åäö"), 3);
}

TEST(utf8_width_is_display_width) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        ASSERT_EQ_UINT(utf8_width(""), 0);
        ASSERT_EQ_UINT(utf8_width("abc"), 3);
        ASSERT_EQ_UINT(utf8_width("日本語"), 6);         /* wide: two columns each */
        ASSERT_EQ_UINT(utf8_width("e\xcc\x81"), 1);      /* e and a combining acute accent */
        ASSERT_EQ_UINT(utf8_width("a\xff" "b"), 3);        /* a byte that is not UTF-8: one column */

        ASSERT_OK(utf8_ellipsize("abcdef", 6, &a));
        ASSERT_STREQ(a, "abcdef");
        ASSERT_OK(utf8_ellipsize("abcdefgh", 6, &b));
        ASSERT_STREQ(b, "abcde…");
        /* A wide character that would straddle the cut is left out whole. */
        ASSERT_OK(utf8_ellipsize("ab日本語", 5, &c));
        ASSERT_STREQ(c, "ab日…");
        ASSERT_EQ_UINT(utf8_width(c), 5);
        ASSERT_OK(utf8_ellipsize("ab日本語", 4, &d));
        ASSERT_STREQ(d, "ab…");
}

/* On an 80-column terminal, long ids are cut instead of lines wrapping; other columns and
 * narrower tables stay whole. */
TEST(table_fits_max_width) {
        _cleanup_table_ Table *t = NULL;
        _cleanup_free_ char *s = NULL, *whole = NULL;
        const char *id = "kZ3p9QmW2xR7tY5uV8nB1cD4eF6gH0jL3mN5pQ7rS9t";  /* 43: a fingerprint id */

        ASSERT_OK(table_new((const char *const[]) { "NAME", "PROVIDER", "STATUS", "CREATED" }, 4, &t));
        ASSERT_OK(table_set_ellipsize(t, 1, true));
        ASSERT_OK(table_add_cell(t, "web", TABLE_COLOR_DEFAULT));
        ASSERT_OK(table_add_cell(t, id, TABLE_COLOR_DEFAULT));
        ASSERT_OK(table_add_cell(t, "running", TABLE_COLOR_DEFAULT));
        ASSERT_OK(table_add_cell(t, "2026-12-04 22:15 UTC", TABLE_COLOR_DEFAULT));

        ASSERT_OK(table_format(t, true, false, &whole));
        ASSERT_STR_CONTAINS(whole, id);

        table_set_max_width(t, 60);
        ASSERT_OK(table_format(t, true, false, &s));
        ASSERT_STREQ(s,
                     "NAME  PROVIDER                 STATUS   CREATED\n"     /* 60 columns */
                     "web   kZ3p9QmW2xR7tY5uV8nB1c…  running  2026-12-04 22:15 UTC\n");
        free(s);
        s = NULL;

        /* Never below TABLE_ELLIPSIZE_MIN: then the line is as narrow as it gets. */
        table_set_max_width(t, 20);
        ASSERT_OK(table_format(t, true, false, &s));
        ASSERT_STR_CONTAINS(s, "web   kZ3p9Qm…  running");
        ASSERT_ERROR(table_set_ellipsize(t, 4, true), EINVAL);
}

TEST(table_empty) {
        _cleanup_table_ Table *t = NULL;
        _cleanup_free_ char *s = NULL;

        ASSERT_OK(table_new((const char *const[]) { "NAME" }, 1, &t));
        ASSERT_EQ_UINT(table_n_rows(t), 0);
        ASSERT_OK(table_format(t, true, false, &s));
        ASSERT_STREQ(s, "NAME\n");
        ASSERT_ERROR(table_new(NULL, 1, &t), EINVAL);
}

TEST(json_formats) {
        _cleanup_json_ json_object *o = json_object_new_object();
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        json_object_object_add(o, "url", json_object_new_string("http://x/y"));
        ASSERT_OK(json_format_text(o, JSON_FORMAT_SHORT, &a));
        ASSERT_STREQ(a, "{\"url\":\"http://x/y\"}\n");
        ASSERT_OK(json_format_text(o, JSON_FORMAT_PRETTY, &b));
        ASSERT_STR_CONTAINS(b, "\n  \"url\": \"http://x/y\"\n");
        ASSERT_OK(json_format_text(o, JSON_FORMAT_OFF, &c));
        ASSERT_STREQ(c, "");
        ASSERT_EQ_INT(json_format_from_string("pretty"), JSON_FORMAT_PRETTY);
        ASSERT_EQ_INT(json_format_from_string("xml"), -EINVAL);
}

TEST(pager_argv_split) {
        _cleanup_strv_free_ char **l = NULL;

        ASSERT_OK(pager_argv("  less -R\t-S ", &l));
        ASSERT_STREQ(l[0], "less");
        ASSERT_STREQ(l[1], "-R");
        ASSERT_STREQ(l[2], "-S");
        ASSERT_NULL(l[3]);
        ASSERT_ERROR(pager_argv("   ", &l), ENOENT);
}

/* ---- verbs ---- */

static int dummy(int argc, char *argv[], void *userdata) {
        return 0;
}

static const Verb children[] = {
        { "create", 2, 2, 0, dummy, 0, "vm create NAME", "", "", NULL },
        { "list", VERB_ANY, 1, VERB_DEFAULT, dummy, 0, "vm list", "", "", NULL },
        {}
};

static const Verb top[] = {
        { "providers", VERB_ANY, 1, 0, dummy, 0, "providers", "", "", NULL },
        { "vm", VERB_ANY, VERB_ANY, VERB_DEFAULT, NULL, 0, "vm", "", NULL, children },
        {}
};

TEST(verb_lookup) {
        char *words[] = { (char *) "vm", (char *) "create", (char *) "web" };
        char *bad[] = { (char *) "vm", (char *) "frob" };
        const Verb *v;
        char *path = NULL, *error = NULL;
        int depth;

        ASSERT_OK(verb_find(top, 3, words, true, &v, &depth, &path, &error));
        ASSERT_STREQ(v->name, "create");
        ASSERT_EQ_INT(depth, 2);
        ASSERT_STREQ(path, "vm create");
        free(path);

        /* No words: the defaults, all the way down. */
        ASSERT_OK(verb_find(top, 0, words, true, &v, &depth, &path, &error));
        ASSERT_STREQ(path, "vm list");
        ASSERT_EQ_INT(depth, 0);
        free(path);

        /* "vm" alone: its default, or itself (for --help). */
        ASSERT_OK(verb_find(top, 1, words, true, &v, &depth, &path, &error));
        ASSERT_STREQ(path, "vm list");
        free(path);
        ASSERT_OK(verb_find(top, 1, words, false, &v, &depth, &path, &error));
        ASSERT_STREQ(path, "vm");
        ASSERT_NOT_NULL(v->children);
        free(path);

        ASSERT_EQ_INT(verb_find(top, 2, bad, true, &v, &depth, &path, &error), -EUSAGE);
        ASSERT_STREQ(error, "Unknown command 'vm frob'.");
        free(error);
        error = NULL;

        ASSERT_OK(verb_check_args(children + 0, "vm create", 2, &error));
        ASSERT_EQ_INT(verb_check_args(children + 0, "vm create", 1, &error), -EUSAGE);
        ASSERT_STR_CONTAINS(error, "Too few arguments");
        free(error);
        ASSERT_EQ_INT(verb_check_args(children + 0, "vm create", 3, &error), -EUSAGE);
        ASSERT_STR_CONTAINS(error, "Too many arguments");
        free(error);
        ASSERT_OK(verb_check_args(children + 1, "vm list", 1, &error));
}
