/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "golemctl-identity.h"
#include "golemctl-provider-api.h"
#include "golemctl-vm-list.h"
#include "golemctl-vm.h"
#include "json-util.h"

/* vm list (every recorded VM, each provider asked once) and vm status (one VM in full). */

static const char *format_local_time(char *buf, size_t size, usec_t t) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        if (t == 0 || !localtime_r(&sec, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M %Z", &tm) == 0)
                return NULL;
        return buf;
}

/* What one provider said about its VMs. */
typedef struct ProviderQuery {
        ProviderRef provider;
        RemoteVM *vms;
        size_t n_vms;
        const char *problem;    /* NULL, "unreachable" or "unknown" */
} ProviderQuery;

static void provider_query_parse(ProviderQuery *q, const HttpCall *call) {
        size_t n;

        if (call->result < 0) {
                q->problem = "unreachable";
                return;
        }
        if (!http_call_ok(call, 200) || !json_object_is_type(call->json, json_type_array)) {
                q->problem = "unknown";
                return;
        }
        n = json_object_array_length(call->json);
        q->vms = calloc(MAX(n, (size_t) 1), sizeof(RemoteVM));
        if (!q->vms) {
                q->problem = "unknown";
                return;
        }
        for (size_t i = 0; i < n; i++)
                if (remote_vm_from_json(json_object_array_get_idx(call->json, i), q->vms + q->n_vms, NULL) >= 0)
                        q->n_vms++;
}

static const RemoteVM *provider_query_find(const ProviderQuery *q, const char *name) {
        for (size_t i = 0; i < q->n_vms; i++)
                if (streq(q->vms[i].name, name))
                        return q->vms + i;
        return NULL;
}

/* The query of l's provider; NULL when there is none. */
static ProviderQuery *provider_query_of(ProviderQuery *queries, size_t n, const LocalVM *l) {
        for (size_t k = 0; k < n; k++)
                if (streq(queries[k].provider.url, l->provider_url) && streq(queries[k].provider.id, l->provider_id))
                        return queries + k;
        return NULL;
}

/* GET /api/v1/vms of every provider in queries, at once; prints the error. */
static int query_providers(ProviderQuery *queries, size_t n) {
        _cleanup_free_ ProviderRef *providers = calloc(MAX(n, (size_t) 1), sizeof(ProviderRef));
        _cleanup_free_ HttpCall *calls = calloc(MAX(n, (size_t) 1), sizeof(HttpCall));
        int r;

        if (!providers || !calls)
                return ctl_error(-ENOMEM, "Out of memory.");
        for (size_t k = 0; k < n; k++)
                providers[k] = queries[k].provider;
        r = provider_api_list(providers, n, calls);
        if (r >= 0)
                for (size_t k = 0; k < n; k++)
                        provider_query_parse(queries + k, calls + k);
        for (size_t k = 0; k < n; k++)
                http_call_done(calls + k);
        return r;
}

int verb_vm_list(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_table_ Table *t = NULL;
        _cleanup_json_ json_object *array = NULL;
        _cleanup_free_ char *legend = NULL;
        LocalVM *vms = NULL;
        ProviderQuery *queries = NULL;
        size_t n_vms = 0, n_queries = 0, n_unreachable = 0;
        sqlite3 *db;
        int r;

        r = context_open_state(c, &db);
        if (r < 0)
                return r;
        r = state_list(db, &vms, &n_vms);
        if (r < 0)
                return ctl_error(r, "Cannot read the local state: %m");

        /* One request per provider, all at once. */
        queries = calloc(MAX(n_vms, (size_t) 1), sizeof(ProviderQuery));
        if (!queries) {
                r = ctl_error(-ENOMEM, "Out of memory.");
                goto finish;
        }
        if (n_vms > 0 && !c->local) {
                Signer *signer;

                r = context_signer(c, &signer);
                if (r < 0)
                        goto finish;
                for (size_t i = 0; i < n_vms; i++)
                        if (!provider_query_of(queries, n_queries, vms + i))
                                queries[n_queries++].provider = (ProviderRef) {
                                        vms[i].provider_id, vms[i].provider_url, signer,
                                };
        }
        r = query_providers(queries, n_queries);
        if (r < 0)
                goto finish;
        for (size_t k = 0; k < n_queries; k++)
                if (queries[k].problem && streq(queries[k].problem, "unreachable"))
                        n_unreachable++;

        if (c->json != JSON_FORMAT_OFF) {
                array = json_object_new_array();
                if (!array) {
                        r = ctl_error(-ENOMEM, "Out of memory.");
                        goto finish;
                }
        } else {
                r = table_new((const char *const[]) { "NAME", "PROVIDER", "STATUS", "CPU", "MEMORY", "STORAGE", "SSH PORT", "CREATED" },
                              8, &t);
                if (r < 0) {
                        r = ctl_error(r, "Out of memory.");
                        goto finish;
                }
                for (size_t col = 3; col <= 6; col++)
                        (void) table_set_align_right(t, col, true);
                (void) table_set_ellipsize(t, 0, true);
                (void) table_set_ellipsize(t, 1, true);
        }

        for (size_t i = 0; i < n_vms; i++) {
                LocalVM *l = vms + i;
                const ProviderQuery *q = provider_query_of(queries, n_queries, l);
                const RemoteVM *remote = NULL;
                const char *problem;
                const Resources *res;
                char when[64], port[8] = "";

                problem = q ? q->problem : "unknown";
                if (c->local)
                        problem = NULL;
                else if (!problem) {
                        remote = provider_query_find(q, l->name);
                        if (remote)
                                vm_record_refresh(c, l, remote);
                        else
                                problem = "missing";
                }

                if (array) {
                        json_object *o = vm_to_json(l, remote, problem, NULL);

                        if (!o || json_object_array_add(array, o) < 0) {
                                json_object_put(o);
                                r = ctl_error(-ENOMEM, "Out of memory.");
                                goto finish;
                        }
                        continue;
                }

                const char *status = problem ?: remote ? remote->status : NULL;
                res = remote ? &remote->resources : &l->resources;
                if (remote && remote->ssh_port > 0)
                        snprintf(port, sizeof(port), "%u", (unsigned) remote->ssh_port);
                else if (l->ssh_port > 0)
                        snprintf(port, sizeof(port), "%u", (unsigned) l->ssh_port);

                if ((r = table_add_cell(t, l->name, TABLE_COLOR_DEFAULT)) < 0 ||
                    (r = table_add_cell(t, l->provider_id, TABLE_COLOR_DEFAULT)) < 0 ||
                    (r = table_add_cell(t, status, vm_status_color(status))) < 0 ||
                    (r = table_add_cellf(t, TABLE_COLOR_DEFAULT, "%" PRIi64, res->cpu)) < 0 ||
                    (r = table_add_cellf(t, TABLE_COLOR_DEFAULT, "%" PRIi64 " GB", res->memory)) < 0 ||
                    (r = table_add_cellf(t, TABLE_COLOR_DEFAULT, "%" PRIi64 " GB", res->storage)) < 0 ||
                    (r = table_add_cell(t, port[0] ? port : NULL, TABLE_COLOR_DEFAULT)) < 0 ||
                    (r = table_add_cell(t, format_local_time(when, sizeof(when), l->created_at), TABLE_COLOR_DEFAULT)) < 0) {
                        r = ctl_error(r, "Out of memory.");
                        goto finish;
                }
        }

        if (array) {
                r = ctl_show_json(c, array);
                goto finish;
        }

        if (c->local)
                r = asprintf(&legend, "%zu VM%s listed (no provider asked).", n_vms, n_vms == 1 ? "" : "s");
        else if (n_unreachable > 0)
                r = asprintf(&legend, "%zu VM%s listed; %zu provider%s unreachable.", n_vms, n_vms == 1 ? "" : "s",
                             n_unreachable, n_unreachable == 1 ? "" : "s");
        else
                r = asprintf(&legend, "%zu VM%s listed.", n_vms, n_vms == 1 ? "" : "s");
        if (r < 0) {
                r = ctl_error(-ENOMEM, "Out of memory.");
                goto finish;
        }
        r = ctl_show_table(c, t, legend);

finish:
        for (size_t k = 0; k < n_queries; k++)
                free(queries[k].vms);
        free(queries);
        local_vm_array_free(vms, n_vms);
        return r;
}

/* ---------------------------------------------------------------------------------------- */
/* vm status */

static void status_line(const char *label, const char *color, const char *format, ...) _printf_(3, 4);
static void status_line(const char *label, const char *color, const char *format, ...) {
        va_list ap;

        printf("%12s: %s", label, strempty(color));
        va_start(ap, format);
        vprintf(format, ap);
        va_end(ap);
        printf("%s\n", color && color[0] ? ANSI_NORMAL : "");
}

int verb_vm_status(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_(local_vm_done) LocalVM l = {};
        _cleanup_(http_call_done) HttpCall vm_call = {}, access_call = {};
        RemoteVM vm = {};
        Access access = {};
        bool have_vm = false, have_access = false;
        const char *problem = NULL, *field = NULL;
        char text[RESOURCES_TEXT_MAX], when[RFC3339_MAX];
        ProviderRef p;
        int r, failure = 0;

        r = vm_lookup_provider(c, argv[1], &l, &p);
        if (r < 0)
                return r;

        r = provider_api_get_with_access(&p, l.name, &vm_call, &access_call);
        if (r < 0)
                return r;

        if (vm_call.result < 0) {
                problem = "unreachable";
                failure = provider_call_failed(&vm_call, l.provider_id, l.provider_url);
        } else {
                r = provider_answer_vm(&vm_call, &l, &vm);
                if (r == -ENOENT) {
                        problem = "missing";
                        failure = vm_gone_error(c, &l);
                } else if (r < 0) {
                        problem = "unknown";
                        failure = r;
                } else {
                        have_vm = true;
                        vm_record_refresh(c, &l, &vm);
                }
        }
        if (have_vm && http_call_ok(&access_call, 200) && access_from_json(access_call.json, &access, &field) >= 0) {
                have_access = true;
                vm_record_access(c, &l, &access);
        }

        if (c->json != JSON_FORMAT_OFF) {
                _cleanup_json_ json_object *o = vm_to_json(&l, have_vm ? &vm : NULL, problem,
                                                           have_access ? &access : NULL);

                if (!o)
                        return ctl_error(-ENOMEM, "Out of memory.");
                r = ctl_show_json(c, o);
                return r < 0 ? r : failure;
        }

        bool colors = colors_enabled();
        const char *status = problem ?: vm.status;

        status_line("Name", NULL, "%s", l.name);
        status_line("Status", colors ? table_color_ansi(vm_status_color(status)) : NULL, "%s", status);
        status_line("Provider", NULL, "%s (%s)", l.provider_id, l.provider_url);
        status_line("Resources", NULL, "%s", resources_to_text(have_vm ? &vm.resources : &l.resources,
                                                              text, sizeof(text)));
        if (have_vm && vm.image[0])
                status_line("Image", NULL, "%s", vm.image);
        else if (l.image)
                status_line("Image", NULL, "%s", l.image);
        if (have_vm && vm.ip_address[0])
                status_line("Address", NULL, "%s (on the provider's network)", vm.ip_address);
        if (have_access)
                status_line("SSH", NULL, "%s port %u (golemctl vm ssh %s)", access.ssh_host,
                            (unsigned) access.ssh_port, l.name);
        else if (l.ssh_port > 0)
                status_line("SSH", NULL, "port %u", (unsigned) l.ssh_port);
        status_line("SSH key", NULL, "%s", l.ssh_key_path);
        if (l.created_at > 0)
                status_line("Created", NULL, "%s", format_rfc3339(when, l.created_at));
        if (l.state == LOCAL_VM_CREATING)
                status_line("Record", NULL, "incomplete (the create request may not have reached the provider)");
        if (have_vm && vm.error_message[0])
                status_line("Error", colors ? ANSI_RED : NULL, "%s", vm.error_message);
        fflush(stdout);
        return failure;
}
