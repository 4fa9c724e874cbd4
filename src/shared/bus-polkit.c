/* SPDX-License-Identifier: MIT */
#include <unistd.h>

#include "bus-polkit.h"
#include "list.h"
#include "macro.h"

typedef struct PolkitQuery PolkitQuery;

struct PolkitQuery {
        LIST_FIELDS(PolkitQuery, queries);
        PolkitRegistry *registry;
        sd_bus_message *request;   /* the call being authorized (a reference) */
        sd_bus_slot *slot;         /* the CheckAuthorization call in flight */
        char *action;
        bool done;
        int result;                /* 1 authorized, -EACCES denied, other negative: failed */
        bool challenge;            /* polkit would ask for a password if allowed to */
};

struct PolkitRegistry {
        PolkitQuery *queries;
};

static void query_free(PolkitQuery *q) {
        PolkitRegistry *r = q->registry;

        LIST_REMOVE(queries, r->queries, q);

        sd_bus_slot_unref(q->slot);
        sd_bus_message_unref(q->request);
        free(q->action);
        free(q);
}

PolkitRegistry *polkit_registry_free(PolkitRegistry *r) {
        if (!r)
                return NULL;
        while (r->queries)
                query_free(r->queries);
        free(r);
        return NULL;
}

int bus_message_sender_uid(sd_bus_message *m, uid_t *ret) {
        sd_bus_creds *creds = NULL;
        int r;

        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, ret);
        sd_bus_creds_unref(creds);
        return r;
}

static int on_check_authorization(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PolkitQuery *q = userdata;
        int authorized, challenge, r;

        q->slot = sd_bus_slot_unref(q->slot);
        q->done = true;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                /* polkit not running, or broken: refuse rather than allow. */
                q->result = -EACCES;
        } else {
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r < 0)
                        q->result = r;
                else {
                        q->result = authorized ? 1 : -EACCES;
                        q->challenge = challenge;
                }
        }

        /* Run the original call again; this time the handler finds the answer. */
        r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->request), q->request);
        if (r < 0)
                query_free(q);
        return 1;
}

static PolkitQuery *find_query(PolkitRegistry *r, sd_bus_message *m, const char *action) {
        if (!r)
                return NULL;
        LIST_FOREACH(queries, q, r->queries)
                if (q->request == m && streq(q->action, action))
                        return q;
        return NULL;
}

static int append_details(sd_bus_message *c, const char *const *details) {
        int r;

        r = sd_bus_message_open_container(c, 'a', "{ss}");
        if (r < 0)
                return r;
        for (const char *const *d = details; d && d[0] && d[1]; d += 2) {
                r = sd_bus_message_append(c, "{ss}", d[0], d[1]);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(c);
}

int bus_verify_polkit_async(sd_bus_message *m, const char *action, const char *const *details,
                            PolkitRegistry **registry, sd_bus_error *error) {
        sd_bus_message *c = NULL;
        PolkitQuery *q;
        uid_t uid;
        int r;

        /* The daemon's own uid (root, usually) needs nobody's permission. */
        r = bus_message_sender_uid(m, &uid);
        if (r < 0)
                return r;
        if (uid == geteuid())
                return 1;

        q = find_query(*registry, m, action);
        if (q) {
                if (!q->done)
                        return 0; /* asked twice before the answer: still pending */
                r = q->result;
                bool challenge = q->challenge;
                query_free(q);
                if (r == -EACCES) {
                        if (challenge && !sd_bus_message_get_allow_interactive_authorization(m))
                                return sd_bus_error_set(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                                        "Interactive authentication required.");
                        return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied by polkit.");
                }
                return r;
        }

        if (!*registry) {
                *registry = calloc(1, sizeof(PolkitRegistry));
                if (!*registry)
                        return -ENOMEM;
        }

        r = sd_bus_message_new_method_call(sd_bus_message_get_bus(m), &c,
                                           "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority",
                                           "CheckAuthorization");
        if (r >= 0)
                r = sd_bus_message_append(c, "(sa{sv})s", "system-bus-name", 1, "name", "s", sd_bus_message_get_sender(m), action);
        if (r >= 0)
                r = append_details(c, details);
        if (r >= 0)
                /* flags: 1 = AllowUserInteraction, when the caller said it can answer a prompt */
                r = sd_bus_message_append(c, "us", (uint32_t) !!sd_bus_message_get_allow_interactive_authorization(m), "");
        if (r < 0) {
                sd_bus_message_unref(c);
                return r;
        }

        q = calloc(1, sizeof(*q));
        if (!q) {
                sd_bus_message_unref(c);
                return -ENOMEM;
        }
        q->registry = *registry;
        q->request = sd_bus_message_ref(m);
        q->action = strdup(action);
        LIST_PREPEND(queries, (*registry)->queries, q);
        if (!q->action) {
                query_free(q);
                sd_bus_message_unref(c);
                return -ENOMEM;
        }

        /* Interactive authentication can take as long as a human needs. */
        r = sd_bus_call_async(sd_bus_message_get_bus(m), &q->slot, c, on_check_authorization, q, UINT64_MAX);
        sd_bus_message_unref(c);
        if (r < 0) {
                query_free(q);
                return r;
        }
        return 0;
}
