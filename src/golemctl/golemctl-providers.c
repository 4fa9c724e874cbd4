/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <strings.h>

#include "golemctl-http.h"
#include "golemctl-providers.h"
#include "json-util.h"

__extension__ typedef unsigned __int128 uint128_t;

bool advertisement_fits(const Advertisement *a, const Resources *want, const char *country) {
        if (!isempty(country) && strcasecmp(a->country, country) != 0)
                return false;
        return a->resources.cpu >= want->cpu &&
               a->resources.memory >= want->memory &&
               a->resources.storage >= want->storage;
}

/* free.cpu/want.cpu + free.memory/want.memory + free.storage/want.storage, times the common
 * denominator want.cpu*want.memory*want.storage (the same for every advertisement). */
static uint128_t fit_score(const Resources *f, const Resources *w) {
        uint128_t c = (uint64_t) w->cpu, m = (uint64_t) w->memory, s = (uint64_t) w->storage;

        return (uint128_t) (uint64_t) f->cpu * m * s +
               (uint128_t) (uint64_t) f->memory * c * s +
               (uint128_t) (uint64_t) f->storage * c * m;
}

int advertisement_fit_compare(const Advertisement *a, const Advertisement *b, const Resources *want) {
        uint128_t x = fit_score(&a->resources, want), y = fit_score(&b->resources, want);

        return x < y ? -1 : x > y ? 1 : 0;
}

int provider_choose(const Advertisement *ads, size_t n, const Resources *want, const char *country,
                    ProviderChoice *ret) {
        ProviderChoice choice = {};
        const Advertisement *best = NULL;

        if (want->cpu < 1 || want->memory < 1 || want->storage < 1)
                return -EINVAL;

        for (size_t i = 0; i < n; i++) {
                const Advertisement *a = ads + i;
                int k;

                if (a->resources.cpu < 0 || a->resources.memory < 0 || a->resources.storage < 0 ||
                    !advertisement_fits(a, want, country))
                        continue;
                choice.n_fit++;

                if (!best) {
                        best = a;
                        choice.index = i;
                        continue;
                }
                k = advertisement_fit_compare(a, best, want);
                if (k > 0)
                        continue;
                if (k == 0) {
                        choice.n_tied++;
                        if (strcmp(a->provider_id, best->provider_id) >= 0)
                                continue;
                } else
                        choice.n_tied = 0;
                best = a;
                choice.index = i;
        }

        if (!best)
                return -ENOENT;
        *ret = choice;
        return 0;
}

int advertisement_url(const Context *c, const Advertisement *a, char **ret) {
        return url_from_ip(a->ip_address, a->api_port > 0 ? a->api_port : c->settings.provider_port, ret);
}

static int discovery_failed(const Context *c, const HttpCall *call) {
        char reason[HTTP_REASON_MAX];

        http_call_reason(call, reason, sizeof(reason));
        if (call->result < 0)
                return ctl_error(call->result, "Cannot reach the discovery service at %s: %s%s",
                                 context_discovery_url(c), reason,
                                 c->discovery_url ? "" :
                                 " (another one: --discovery-url=URL, or DiscoveryURL= in golemctl.conf)");
        return ctl_error(-EIO, "The discovery service refused: %s", reason);
}

typedef struct AdvertisementList {
        const Resources *min;
        const char *country;
        bool verified_only;
        Advertisement *ads;
        size_t n, allocated;
        size_t n_received, n_bad;
        const char *first_bad;
} AdvertisementList;

static int advertisement_list_add(json_object *element, void *userdata) {
        AdvertisementList *l = userdata;
        WireError e = {};

        l->n_received++;
        if (l->n >= l->allocated) {
                size_t a = MAX(l->allocated * 2, (size_t) 64);
                Advertisement *p = reallocarray(l->ads, a, sizeof(Advertisement));

                if (!p)
                        return -ENOMEM;
                l->ads = p;
                l->allocated = a;
        }

        if (advertisement_from_json(element, ADVERTISEMENT_SERVED, NULL, l->ads + l->n, &e) < 0) {
                if (!l->first_bad)
                        l->first_bad = e.field;   /* a string literal, not the element's */
                l->n_bad++;
                return 0;
        }
        /* The service filtered already; a board that did not is filtered here. */
        if (l->min && !advertisement_fits(l->ads + l->n, l->min, l->country))
                return 0;
        if (l->verified_only && !l->ads[l->n].verified)
                return 0;
        l->n++;
        return 0;
}

int discovery_list(const Context *c, const Resources *min, const char *country, unsigned limit,
                   Advertisement **ret, size_t *ret_n, bool *ret_more) {
        _cleanup_free_ char *url = NULL, *query = NULL;
        AdvertisementList l = {
                .min = min,
                .country = country,
                .verified_only = !c->unverified,
        };
        HttpCall call = {};
        size_t query_size;
        FILE *f;
        int r;

        assert(limit >= 1 && limit <= DISCOVERY_LIMIT_MAX);

        f = open_memstream(&query, &query_size);
        if (!f)
                return ctl_error(-ENOMEM, "Out of memory.");
        fprintf(f, "?limit=%u", limit);
        if (min && min->cpu > 0)
                fprintf(f, "&cpu=%" PRIi64, min->cpu);
        if (min && min->memory > 0)
                fprintf(f, "&memory=%" PRIi64, min->memory);
        if (min && min->storage > 0)
                fprintf(f, "&storage=%" PRIi64, min->storage);
        if (!isempty(country))
                fprintf(f, "&country=%s", country);  /* two letters, checked */
        if (!c->unverified)
                fputs("&verified=true", f);
        if (fclose(f) != 0)
                return ctl_error(-ENOMEM, "Out of memory.");

        r = url_join(&url, context_discovery_url(c), "/api/v1/advertisements%s", query);
        if (r < 0)
                return ctl_error(r, "Out of memory.");
        r = http_call_init(&call, "GET", url, NULL, HTTP_TIMEOUT_QUERY);
        if (r < 0)
                return ctl_error(r, "Out of memory.");
        /* Up to DISCOVERY_LIMIT_MAX advertisements, taken apart one at a time: building and
         * freeing a json-c tree of 1000 first costs some 2 ms more (bench/golemctl). */
        call.keep_text = true;
        r = http_call_run(&call);
        if (r < 0) {
                http_call_done(&call);
                return ctl_error(r, "Cannot run HTTP requests: %m");
        }
        if (!http_call_ok(&call, 200)) {
                r = discovery_failed(c, &call);
                http_call_done(&call);
                return r;
        }

        r = json_array_parse_each(call.text, call.text_size, advertisement_list_add, &l);
        if (r < 0) {
                free(l.ads);
                if (r == -ENOMEM) {
                        http_call_done(&call);
                        return ctl_error(r, "Out of memory.");
                }
                /* As http_call_run() marks a body that does not parse. */
                call.body_invalid = r != -EMEDIUMTYPE;
                r = discovery_failed(c, &call);
                http_call_done(&call);
                return r;
        }
        http_call_done(&call);

        if (l.n_bad > 0)
                ctl_warning("Ignored %zu invalid advertisement%s from the discovery service (bad field: %s).",
                            l.n_bad, l.n_bad == 1 ? "" : "s", strempty(l.first_bad));

        if (!l.ads) {
                l.ads = calloc(1, sizeof(Advertisement));
                if (!l.ads)
                        return ctl_error(-ENOMEM, "Out of memory.");
        }
        *ret = TAKE_PTR(l.ads);
        *ret_n = l.n;
        if (ret_more)
                *ret_more = l.n_received >= limit;
        return 0;
}

int discovery_get(const Context *c, const char *provider_id, Advertisement *ret) {
        _cleanup_free_ char *url = NULL;
        HttpCall call = {};
        WireError e = {};
        int r;

        r = url_join(&url, context_discovery_url(c), "/api/v1/advertisements/%s", provider_id);
        if (r < 0)
                return ctl_error(r, "Out of memory.");
        r = http_call_init(&call, "GET", url, NULL, HTTP_TIMEOUT_QUERY);
        if (r < 0)
                return ctl_error(r, "Out of memory.");
        r = http_call_run(&call);
        if (r < 0) {
                http_call_done(&call);
                return ctl_error(r, "Cannot run HTTP requests: %m");
        }
        if (call.result >= 0 && call.status == 404) {
                http_call_done(&call);
                return ctl_error(-ENOENT, "Provider %s is not advertising (unknown, or its advertisement expired).",
                                 provider_id);
        }
        if (!http_call_ok(&call, 200)) {
                r = discovery_failed(c, &call);
                http_call_done(&call);
                return r;
        }
        r = advertisement_from_json(call.json, ADVERTISEMENT_SERVED, NULL, ret, &e);
        http_call_done(&call);
        if (r < 0)
                return ctl_error(r, "The discovery service sent an invalid advertisement for %s (field %s).",
                                 provider_id, strempty(e.field));
        if (!streq(ret->provider_id, provider_id))
                return ctl_error(-EBADMSG, "The discovery service sent the advertisement of %s when asked for %s.",
                                 ret->provider_id, provider_id);
        if (!ret->verified && !c->unverified)
                return ctl_error(-EPERM, "Provider %s is not verified (its advertisement is not signed by its key); "
                                 "use it anyway with --unverified.", provider_id);
        return 0;
}

static int show_json(const Context *c, const Advertisement *ads, size_t n) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        JsonWriter w;
        FILE *f;
        int r;

        if (n == 0) {
                _cleanup_json_ json_object *array = json_object_new_array();

                /* json-c decides how an empty list looks; it differs between its versions. */
                if (!array)
                        return ctl_error(-ENOMEM, "Out of memory.");
                return ctl_show_json(c, array);
        }

        /* Straight to text: as json-c would print the same objects, without making them. */
        f = open_memstream_unlocked(&text, &size);
        if (!f)
                return ctl_error(-ENOMEM, "Out of memory.");
        json_writer_init(&w, f, c->json);
        json_writer_open(&w, NULL, '[');
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *url = NULL;

                (void) advertisement_url(c, ads + i, &url);
                advertisement_write_json(&w, ads + i, url);
        }
        json_writer_close(&w, ']');
        fputc('\n', f);
        if (fclose(f) != 0)
                return ctl_error(-ENOMEM, "Out of memory.");

        r = output_show(text, c->pager);
        if (r < 0)
                return ctl_error(r, "Cannot write the output: %m");
        return 0;
}

static int show_table(const Context *c, const Advertisement *ads, size_t n) {
        _cleanup_table_ Table *t = NULL;
        _cleanup_free_ char *legend = NULL;
        int r;

        r = table_new((const char *const[]) { "PROVIDER", "COUNTRY", "ADDRESS", "CPU", "MEMORY", "STORAGE", "PLATFORM",
                                              "VERIFIED" },
                      8, &t);
        if (r < 0)
                return ctl_error(r, "Out of memory.");
        for (size_t col = 3; col <= 5; col++)
                (void) table_set_align_right(t, col, true);
        (void) table_set_ellipsize(t, 0, true);
        (void) table_set_ellipsize(t, 2, true);

        for (size_t i = 0; i < n; i++) {
                const Advertisement *a = ads + i;

                if ((r = table_add_cell(t, a->provider_id, TABLE_COLOR_DEFAULT)) < 0 ||
                    (r = table_add_cell(t, a->country, TABLE_COLOR_DEFAULT)) < 0 ||
                    (r = table_add_cell(t, a->ip_address, TABLE_COLOR_DEFAULT)) < 0 ||
                    (r = table_add_cellf(t, TABLE_COLOR_DEFAULT, "%" PRIi64, a->resources.cpu)) < 0 ||
                    (r = table_add_cellf(t, TABLE_COLOR_DEFAULT, "%" PRIi64 " GB", a->resources.memory)) < 0 ||
                    (r = table_add_cellf(t, TABLE_COLOR_DEFAULT, "%" PRIi64 " GB", a->resources.storage)) < 0 ||
                    (r = table_add_cell(t, a->platform[0] ? a->platform : NULL, TABLE_COLOR_DEFAULT)) < 0 ||
                    (r = table_add_cell(t, a->verified ? "yes" : "no",
                                        a->verified ? TABLE_COLOR_DEFAULT : TABLE_COLOR_YELLOW)) < 0)
                        return ctl_error(r, "Out of memory.");
        }

        if (asprintf(&legend, "%zu provider%s listed.", n, n == 1 ? "" : "s") < 0)
                return ctl_error(-ENOMEM, "Out of memory.");
        return ctl_show_table(c, t, legend);
}

int verb_providers(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_free_ Advertisement *ads = NULL;
        Resources min = { c->cpu, c->memory, c->storage };
        unsigned limit = c->limit > 0 ? c->limit : DISCOVERY_LIMIT_DEFAULT;
        bool more;
        size_t n;
        int r;

        r = discovery_list(c, &min, c->country, limit, &ads, &n, &more);
        if (r < 0)
                return r;

        /* A list cut short should not look complete; with --limit it is what was asked for. */
        if (more && c->limit == 0)
                ctl_info(c, "Listed the first %u advertisements (best first), the most golemctl asks for; "
                         "there may be more: narrow the list with --cpu, --memory, --storage or --country.",
                         limit);

        if (c->json != JSON_FORMAT_OFF)
                return show_json(c, ads, n);
        return show_table(c, ads, n);
}
