/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "discovery-manager.h"
#include "json-util.h"
#include "log.h"
#include "validate.h"

/* The advertisement resource family: /api/v1/advertisements[/{provider_id}]. */

static int reply_health(HttpRequest *req, void *userdata) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o || json_object_object_add(o, "status", json_object_new_string("healthy")) < 0)
                return -ENOMEM;
        return http_reply_json(req, 200, o);
}

/* Stored documents were rendered by advertisement_to_json(): served as they are. */
static int reply_document(HttpRequest *req, const char *document) {
        return http_reply_json_text(req, 200, document, strlen(document));
}

static int reply_store_error(HttpRequest *req, int r) {
        log_error_errno(r, "Advertisement store failed: %m");
        return http_reply_error(req, 503, "ADV_001", "The advertisement store failed: %s", strerror(ERRNO_VALUE(r)));
}

/* The provider's credentials: both headers present, the id well-formed. Replies 401 and
 * returns NULL otherwise. */
static const char *require_credentials(HttpRequest *req) {
        const char *id = http_request_header(req, "X-Provider-ID");
        const char *sig = http_request_header(req, "X-Provider-Signature");

        if (isempty(id) || isempty(sig)) {
                log_struct(LOG_NOTICE,
                           "MESSAGE_ID=" GOLEM_MESSAGE_AUTH_REFUSED,
                           "GOLEM_REMOTE_ADDR=%s", http_request_client_string(req),
                           "GOLEM_REQUEST_ID=%s", http_request_id(req),
                           "MESSAGE=Refused %s %s from %s: missing provider credentials.",
                           http_method_to_string(http_request_method(req)), http_request_path(req),
                           http_request_client_string(req));
                (void) http_reply_error(req, 401, "AUTH_003", "Missing or empty provider credentials");
                return NULL;
        }
        if (!provider_id_valid(id) || strlen(sig) > 4096) {
                (void) http_reply_error(req, 401, "AUTH_003", "Malformed provider credentials");
                return NULL;
        }
        return id;
}

static int post_advertisement(HttpRequest *req, void *userdata) {
        Manager *m = userdata;
        _cleanup_json_ json_object *body = NULL;
        _cleanup_free_ char *document = NULL;
        char field_error[FIELD_ERROR_MAX];
        Advertisement a = {};
        const char *id, *data;
        size_t size;
        int r;

        id = require_credentials(req);
        if (!id)
                return 0;

        data = http_request_body(req, &size);
        if (json_parse(data, size, &body) < 0)
                return http_reply_error(req, 422, "VALIDATION_ERROR", "body: not valid JSON");

        r = advertisement_from_body(body, id, &a, field_error);
        if (r == -EINVAL)
                return http_reply_error(req, 422, "VALIDATION_ERROR", "%s", field_error);
        if (r < 0)
                return r;

        r = m->store->ops->upsert(m->store, &a, now_realtime(), manager_fresh_after(m), &document);
        if (r < 0) {
                advertisement_done(&a);
                return reply_store_error(req, r);
        }

        log_struct(LOG_DEBUG,
                   "MESSAGE_ID=" GOLEM_MESSAGE_ADVERTISEMENT_STORED,
                   "GOLEM_PROVIDER=%s", a.provider_id,
                   "GOLEM_REMOTE_ADDR=%s", http_request_client_string(req),
                   "GOLEM_REQUEST_ID=%s", http_request_id(req),
                   "MESSAGE=Stored advertisement of provider %s (%" PRIi64 " CPU, %" PRIi64 " GB, %" PRIi64 " GB).",
                   a.provider_id, a.resources.cpu, a.resources.memory, a.resources.storage);
        advertisement_done(&a);
        return reply_document(req, document);
}

typedef struct ListBuffer {
        char *data;
        size_t size, allocated;
} ListBuffer;

static int list_append(ListBuffer *b, const char *s, size_t n) {
        if (b->size + n + 2 > b->allocated) {
                size_t a = MAX(b->allocated * 2, b->size + n + 2);
                char *d = realloc(b->data, a);
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->allocated = a;
        }
        memcpy(b->data + b->size, s, n);
        b->size += n;
        b->data[b->size] = 0;
        return 0;
}

static int list_row(const char *document, size_t size, void *userdata) {
        ListBuffer *b = userdata;
        int r;

        r = list_append(b, b->size > 1 ? "," : "", b->size > 1 ? 1 : 0);
        if (r < 0)
                return r;
        return list_append(b, document, size);
}

static const char *query_get(void *userdata, const char *name) {
        return http_request_query(userdata, name);
}

static int list_advertisements(HttpRequest *req, void *userdata) {
        Manager *m = userdata;
        char field_error[FIELD_ERROR_MAX];
        AdvertisementQuery q;
        ListBuffer b = {};
        int r;

        r = advertisement_query_parse(query_get, req, &q, field_error);
        if (r == -ERANGE)
                return http_reply_error(req, 400, "ADV_002", "%s", field_error);
        if (r < 0)
                return http_reply_error(req, 422, "VALIDATION_ERROR", "%s", field_error);

        /* The stored documents are concatenated into the array, not re-rendered. */
        r = list_append(&b, "[", 1);
        if (r >= 0)
                r = m->store->ops->query(m->store, &q, manager_fresh_after(m), list_row, &b);
        if (r >= 0)
                r = list_append(&b, "]", 1);
        if (r < 0) {
                free(b.data);
                return r == -ENOMEM ? r : reply_store_error(req, r);
        }

        r = http_reply_json_text(req, 200, b.data, b.size);
        free(b.data);
        return r;
}

static int get_advertisement(HttpRequest *req, void *userdata) {
        Manager *m = userdata;
        _cleanup_free_ char *document = NULL;
        const char *id = http_request_path_arg(req, 0);
        int r;

        if (!provider_id_valid(id))
                return http_reply_error(req, 404, "ADV_004", "Advertisement not found");

        r = m->store->ops->get(m->store, id, manager_fresh_after(m), &document);
        if (r == -ENOENT)
                return http_reply_error(req, 404, "ADV_004", "Advertisement not found");
        if (r < 0)
                return reply_store_error(req, r);
        return reply_document(req, document);
}

static int delete_advertisement(HttpRequest *req, void *userdata) {
        Manager *m = userdata;
        _cleanup_json_ json_object *o = NULL;
        const char *id = http_request_path_arg(req, 0), *caller;
        int r;

        caller = require_credentials(req);
        if (!caller)
                return 0;
        if (!streq(caller, id)) {
                log_struct(LOG_NOTICE,
                           "MESSAGE_ID=" GOLEM_MESSAGE_AUTH_REFUSED,
                           "GOLEM_PROVIDER=%s", caller,
                           "GOLEM_REMOTE_ADDR=%s", http_request_client_string(req),
                           "GOLEM_REQUEST_ID=%s", http_request_id(req),
                           "MESSAGE=Provider %s may not delete another provider's advertisement.", caller);
                return http_reply_error(req, 401, "AUTH_004", "Provider ID does not own this advertisement");
        }

        r = m->store->ops->remove(m->store, id, manager_fresh_after(m));
        if (r == -ENOENT)
                return http_reply_error(req, 404, "ADV_004", "Advertisement not found");
        if (r < 0)
                return reply_store_error(req, r);

        log_struct(LOG_INFO,
                   "MESSAGE_ID=" GOLEM_MESSAGE_ADVERTISEMENT_DELETED,
                   "GOLEM_PROVIDER=%s", id,
                   "GOLEM_REMOTE_ADDR=%s", http_request_client_string(req),
                   "MESSAGE=Provider %s withdrew its advertisement.", id);

        o = json_object_new_object();
        if (!o || json_object_object_add(o, "status", json_object_new_string("success")) < 0)
                return -ENOMEM;
        return http_reply_json(req, 200, o);
}

const HttpRoute discovery_routes[] = {
        { HTTP_GET,    "/health",                    reply_health,         0 },
        { HTTP_POST,   "/api/v1/advertisements",     post_advertisement,   HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/api/v1/advertisements",     list_advertisements,  HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/api/v1/advertisements/{}",  get_advertisement,    HTTP_ROUTE_RATE_LIMITED },
        { HTTP_DELETE, "/api/v1/advertisements/{}",  delete_advertisement, HTTP_ROUTE_RATE_LIMITED },
};

const size_t discovery_n_routes = ELEMENTSOF(discovery_routes);
