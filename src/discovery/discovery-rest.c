/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "discovery-manager.h"
#include "discovery-openapi.h"
#include "json-util.h"
#include "log.h"
#include "signed-request.h"
#include "validate.h"

/* The advertisement resource family: /api/v1/advertisements[/{provider_id}]. */

/* 200 {"status":"healthy"}; while a shared store is unreachable 503 {"status":"degraded"} with
 * the error envelope, so that a load balancer's check takes this instance out meanwhile. */
static int reply_health(HttpRequest *req, void *userdata) {
        _cleanup_json_ json_object *o = json_object_new_object(), *detail = NULL;
        Manager *m = userdata;
        bool reachable = manager_store_reachable(m);

        if (!o || json_object_object_add(o, "status", json_object_new_string(reachable ? "healthy" : "degraded")) < 0)
                return -ENOMEM;
        if (reachable)
                return http_reply_json(req, 200, o);

        detail = json_object_new_object();
        if (!detail ||
            json_object_object_add(detail, "code", json_object_new_string("ADV_001")) < 0 ||
            json_object_object_add(detail, "message",
                                   json_object_new_string("The advertisement store is unreachable")) < 0 ||
            json_object_object_add(o, "detail", TAKE_PTR(detail)) < 0)
                return -ENOMEM;
        return http_reply_json(req, 503, o);
}

/* openapi/golem-discovery.json, built in. */
static int reply_openapi(HttpRequest *req, void *userdata) {
        return http_reply_json_text(req, 200, discovery_openapi_json, discovery_openapi_json_size);
}

/* Every store failure is a 503 with the envelope: -EDQUOT (disk full), -ENOTCONN (store
 * unreachable), -EIO and the rest; the message says which. */
static int reply_store_error(HttpRequest *req, int r) {
        /* Unreachable: said once when it went (discovery-manager.c), not once per request. */
        if (r == -ENOTCONN)
                log_debug_errno(r, "Advertisement store failed: %m");
        else
                log_error_errno(r, "Advertisement store failed: %m");
        if (r == -EDQUOT)
                return http_reply_error(req, 503, "ADV_001", "The advertisement store failed: its disk is full");
        if (r == -ENOTCONN)
                return http_reply_error(req, 503, "ADV_001", "The advertisement store failed: it is unreachable");
        return http_reply_error(req, 503, "ADV_001", "The advertisement store failed: %s", strerror(ERRNO_VALUE(r)));
}

/* The network's own refusals (signed-request.h has the others). */
#define AUTH_CODE_MISSING_CREDENTIALS "AUTH_003" /* no or an empty X-Provider-ID / signature */
#define AUTH_CODE_NOT_OWNER "AUTH_004"           /* X-Provider-ID is not the advertisement's */

/* What an unsigned legacy provider may send as X-Provider-Signature (any opaque string). */
#define LEGACY_SIGNATURE_MAX 4096
/* The standard base64 of "SSHSIG", which every SSHSIG blob starts with. */
#define SSHSIG_BASE64_MAGIC "U1NIU0lH"

static int refuse(HttpRequest *req, const char *id, const char *code, const char *format, ...) _printf_(4, 5);
static int refuse(HttpRequest *req, const char *id, const char *code, const char *format, ...) {
        char message[256];
        va_list ap;

        va_start(ap, format);
        vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);

        /* Every refusal at debug level; the journal gets one summary line per address and
         * minute (http-server.c), so a flood of forgeries cannot flood it. */
        http_request_refused_unauthorized(req);
        log_struct(LOG_DEBUG,
                   "MESSAGE_ID=" GOLEM_MESSAGE_AUTH_REFUSED,
                   "GOLEM_PROVIDER=%s", strempty(id),
                   "GOLEM_AUTH_CODE=%s", code,
                   "GOLEM_REMOTE_ADDR=%s", http_request_client_string(req),
                   "GOLEM_REQUEST_ID=%s", http_request_id(req),
                   "MESSAGE=Refused %s %s from %s: %s (%s).",
                   http_method_to_string(http_request_method(req)), http_request_path(req),
                   http_request_client_string(req), message, code);
        return http_reply_error(req, 401, code, "%s", message);
}

/* Whether the request tries to be signed (golem-request-v1): then it must verify. An
 * unsigned one from the existing network carries some other X-Provider-Signature and neither
 * X-Golem-Timestamp nor X-Golem-Nonce. */
static bool wants_verification(HttpRequest *req, const char *id, const char *signature) {
        return ssh_identity_valid(id) ||
                http_request_header(req, SIGNED_REQUEST_HEADER_TIMESTAMP) ||
                http_request_header(req, SIGNED_REQUEST_HEADER_NONCE) ||
                startswith(strempty(signature), SSHSIG_BASE64_MAGIC);
}

/* Who sent a POST or DELETE: its X-Provider-ID, and whether that id is proven.
 *
 * An id in fingerprint form (ssh_identity_valid()) is self-certifying: only a request
 * signed by that key is taken, whatever AllowUnsignedAdvertisements= says. Any other id is
 * a legacy one, which no key can prove: taken unsigned (with some X-Provider-Signature, as
 * the existing network sends it) while AllowUnsignedAdvertisements=yes, and when signed
 * only with a good signature, by any key; either way unverified. With
 * AllowUnsignedAdvertisements=no, legacy ids are refused, signed or not. A signature that is
 * there and does not verify is always refused.
 *
 * Returns 1 and the id, 0 after replying with a refusal, or a negative errno (no verdict,
 * e.g. -EAGAIN when the nonce cache is full). */
static int authenticate(HttpRequest *req, Manager *m, const char **ret_id, bool *ret_verified) {
        const char *id = http_request_header(req, "X-Provider-ID");
        const char *signature = http_request_header(req, SIGNED_REQUEST_HEADER_PROVIDER_SIGNATURE);
        char identity[SSH_IDENTITY_SIZE];
        const char *body;
        size_t body_size;
        AuthError e;
        int r;

        if (isempty(id))
                return refuse(req, NULL, AUTH_CODE_MISSING_CREDENTIALS, "Missing or empty provider credentials");
        if (!provider_id_valid(id))
                return refuse(req, NULL, AUTH_CODE_MISSING_CREDENTIALS, "Malformed provider credentials");

        if (!wants_verification(req, id, signature)) {
                if (!m->settings.allow_unsigned_advertisements)
                        return refuse(req, id, auth_error_to_string(AUTH_ERROR_SIGNATURE_REQUIRED),
                                      "Signature required: unsigned advertisements are not accepted here");
                if (isempty(signature))
                        return refuse(req, id, AUTH_CODE_MISSING_CREDENTIALS, "Missing or empty provider credentials");
                if (strlen(signature) > LEGACY_SIGNATURE_MAX)
                        return refuse(req, id, AUTH_CODE_MISSING_CREDENTIALS, "Malformed provider credentials");
                *ret_id = id;
                *ret_verified = false;
                return 1;
        }

        body = http_request_body(req, &body_size);
        r = signed_request_verify(&(SignedRequest) {
                                          .method = http_method_to_string(http_request_method(req)),
                                          .target = http_request_target(req),
                                          .audience = SIGNED_REQUEST_AUDIENCE_DISCOVERY,
                                          .timestamp = http_request_header(req, SIGNED_REQUEST_HEADER_TIMESTAMP),
                                          .nonce = http_request_header(req, SIGNED_REQUEST_HEADER_NONCE),
                                          .signature = signature,
                                          .body = body,
                                          .body_size = body_size,
                                  },
                                  now_realtime() / USEC_PER_SEC, m->nonces, identity);
        e = auth_error_from_errno(r);
        switch (e) {
        case AUTH_ERROR_SIGNATURE_REQUIRED:
                if (ssh_identity_valid(id))
                        return refuse(req, id, auth_error_to_string(e),
                                      "Signature required: provider id %s is a key fingerprint; sign with that key", id);
                return refuse(req, id, auth_error_to_string(e),
                              "Signature required: X-Provider-Signature, X-Golem-Timestamp and X-Golem-Nonce go together");
        case AUTH_ERROR_SIGNATURE_INVALID:
                return refuse(req, id, auth_error_to_string(e), "Invalid signature");
        case AUTH_ERROR_TIMESTAMP:
                return refuse(req, id, auth_error_to_string(e),
                              "Timestamp out of the window of %d s; the server's time is %" PRIi64,
                              SIGNED_REQUEST_WINDOW_SEC, (int64_t) (now_realtime() / USEC_PER_SEC));
        case AUTH_ERROR_NONCE_REUSED:
                return refuse(req, id, auth_error_to_string(e), "Nonce already used");
        default:
                if (r < 0)
                        return r;
        }

        if (ssh_identity_valid(id) && !streq(id, identity))
                return refuse(req, id, auth_error_to_string(AUTH_ERROR_SIGNATURE_INVALID),
                              "Invalid signature: signed by key %s, not by provider %s", identity, id);
        if (!ssh_identity_valid(id) && !m->settings.allow_unsigned_advertisements)
                return refuse(req, id, auth_error_to_string(AUTH_ERROR_SIGNATURE_INVALID),
                              "Provider id %s is not the signing key's fingerprint %s; legacy ids are not accepted here",
                              id, identity);

        *ret_id = id;
        *ret_verified = ssh_identity_valid(id);
        return 1;
}

/* A POST or DELETE waiting for the store's commit (its request suspended meanwhile). */
typedef struct RestWrite {
        HttpRequest *req; /* NULL once the client is gone: the write completes all the same */
        char provider_id[PROVIDER_ID_MAX + 1];
        char remote[64], request_id[64];
        bool verified;
        int64_t cpu, memory, storage;
} RestWrite;

static void on_write_request_gone(HttpRequest *req, void *data) {
        RestWrite *w = data;

        w->req = NULL;
}

static RestWrite *rest_write_new(HttpRequest *req, const char *provider_id) {
        RestWrite *w = calloc(1, sizeof(*w));

        if (!w)
                return NULL;
        snprintf(w->provider_id, sizeof(w->provider_id), "%s", provider_id);
        snprintf(w->remote, sizeof(w->remote), "%s", http_request_client_string(req));
        snprintf(w->request_id, sizeof(w->request_id), "%s", http_request_id(req));
        return w;
}

/* Suspends req until the write w was queued for completes. */
static int rest_write_wait(HttpRequest *req, RestWrite *w) {
        int r;

        r = http_request_suspend(req);
        if (r < 0)
                return r;
        w->req = req;
        http_request_set_destroy_callback(req, on_write_request_gone, w);
        return 0;
}

/* The request still waiting for w, if any, detached from it. */
static HttpRequest *rest_write_request(RestWrite *w) {
        HttpRequest *req = TAKE_PTR(w->req);

        if (req)
                http_request_set_destroy_callback(req, NULL, NULL);
        return req;
}

static void on_advertisement_stored(int error, const char *document, size_t size, void *userdata) {
        RestWrite *w = userdata;
        HttpRequest *req = rest_write_request(w);

        if (error >= 0)
                log_struct(LOG_DEBUG,
                           "MESSAGE_ID=" GOLEM_MESSAGE_ADVERTISEMENT_STORED,
                           "GOLEM_PROVIDER=%s", w->provider_id,
                           "GOLEM_VERIFIED=%s", w->verified ? "yes" : "no",
                           "GOLEM_REMOTE_ADDR=%s", w->remote,
                           "GOLEM_REQUEST_ID=%s", w->request_id,
                           "MESSAGE=Stored %s advertisement of provider %s (%" PRIi64 " CPU, %" PRIi64 " GB, %" PRIi64 " GB).",
                           w->verified ? "verified" : "unverified",
                           w->provider_id, w->cpu, w->memory, w->storage);
        if (req) {
                if (error < 0)
                        (void) reply_store_error(req, error);
                else
                        (void) http_reply_json_text(req, 200, document, size);
        }
        free(w);
}

static int post_advertisement(HttpRequest *req, void *userdata) {
        Manager *m = userdata;
        _cleanup_json_ json_object *body = NULL;
        _cleanup_free_ RestWrite *w = NULL;
        char field_error[FIELD_ERROR_MAX];
        Advertisement a = {};
        const char *id, *data;
        bool verified;
        size_t size;
        int r;

        r = authenticate(req, m, &id, &verified);
        if (r <= 0)
                return r;

        data = http_request_body(req, &size);
        if (json_parse(data, size, &body) < 0)
                return http_reply_error(req, 422, "VALIDATION_ERROR", "body: not valid JSON");

        r = advertisement_from_body(body, id, &a, field_error);
        if (r == -EINVAL)
                return http_reply_error(req, 422, "VALIDATION_ERROR", "%s", field_error);
        if (r < 0)
                return r;
        a.verified = verified;

        w = rest_write_new(req, a.provider_id);
        if (!w) {
                advertisement_done(&a);
                return -ENOMEM;
        }
        w->verified = a.verified;
        w->cpu = a.resources.cpu;
        w->memory = a.resources.memory;
        w->storage = a.resources.storage;

        /* Answered once the store committed it (on_advertisement_stored). */
        r = manager_store_advertisement(m, &a, on_advertisement_stored, w);
        advertisement_done(&a);
        if (r < 0)
                return reply_store_error(req, r);
        return rest_write_wait(req, TAKE_PTR(w));
}

static const char *query_get(void *userdata, const char *name) {
        return http_request_query(userdata, name);
}

static int list_advertisements(HttpRequest *req, void *userdata) {
        Manager *m = userdata;
        char field_error[FIELD_ERROR_MAX];
        AdvertisementQuery q;
        const char *answer;
        size_t size;
        int r;

        r = advertisement_query_parse(query_get, req, &q, field_error);
        if (r == -ERANGE)
                return http_reply_error(req, 400, "ADV_002", "%s", field_error);
        if (r < 0)
                return http_reply_error(req, 422, "VALIDATION_ERROR", "%s", field_error);

        /* The documents as rendered when stored, joined into one array by the index. */
        r = discovery_index_query(m->index, &q, manager_fresh_after(m), &answer, &size);
        if (r < 0)
                return r;
        return http_reply_json_text(req, 200, answer, size);
}

static int get_advertisement(HttpRequest *req, void *userdata) {
        Manager *m = userdata;
        const char *id = http_request_path_arg(req, 0), *document;
        size_t size;
        int r;

        if (!provider_id_valid(id))
                return http_reply_error(req, 404, "ADV_004", "Advertisement not found");

        r = discovery_index_get(m->index, id, manager_fresh_after(m), &document, &size);
        if (r == -ENOENT)
                return http_reply_error(req, 404, "ADV_004", "Advertisement not found");
        if (r < 0)
                return r;
        return http_reply_json_text(req, 200, document, size);
}

static void on_advertisement_removed(int error, const char *document, size_t size, void *userdata) {
        RestWrite *w = userdata;
        HttpRequest *req = rest_write_request(w);
        _cleanup_json_ json_object *o = NULL;

        if (error >= 0)
                log_struct(LOG_INFO,
                           "MESSAGE_ID=" GOLEM_MESSAGE_ADVERTISEMENT_DELETED,
                           "GOLEM_PROVIDER=%s", w->provider_id,
                           "GOLEM_REMOTE_ADDR=%s", w->remote,
                           "MESSAGE=Provider %s withdrew its advertisement.", w->provider_id);
        if (req) {
                if (error < 0)
                        (void) reply_store_error(req, error);
                else {
                        o = json_object_new_object();
                        if (!o || json_object_object_add(o, "status", json_object_new_string("success")) < 0)
                                (void) http_reply_errno(req, -ENOMEM, "INTERNAL_ERROR", "Out of memory");
                        else
                                (void) http_reply_json(req, 200, o);
                }
        }
        free(w);
}

static int delete_advertisement(HttpRequest *req, void *userdata) {
        Manager *m = userdata;
        _cleanup_free_ RestWrite *w = NULL;
        const char *id = http_request_path_arg(req, 0), *caller;
        bool verified;
        int r;

        r = authenticate(req, m, &caller, &verified);
        if (r <= 0)
                return r;
        /* A verified caller is the key of its id, so this also keeps one key from deleting
         * another's advertisement. */
        if (!streq(caller, id))
                return refuse(req, caller, AUTH_CODE_NOT_OWNER, "Provider ID does not own this advertisement");

        w = rest_write_new(req, id);
        if (!w)
                return -ENOMEM;

        /* Answered once the store committed it (on_advertisement_removed). */
        r = manager_remove_advertisement(m, id, on_advertisement_removed, w);
        if (r == -ENOENT)
                return http_reply_error(req, 404, "ADV_004", "Advertisement not found");
        if (r < 0)
                return reply_store_error(req, r);
        return rest_write_wait(req, TAKE_PTR(w));
}

const HttpRoute discovery_routes[] = {
        { HTTP_GET,    "/health",                    reply_health,         0 },
        { HTTP_GET,    "/openapi.json",              reply_openapi,        HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/metrics",                   http_handler_metrics, 0 },
        { HTTP_POST,   "/api/v1/advertisements",     post_advertisement,   HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/api/v1/advertisements",     list_advertisements,  HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/api/v1/advertisements/{}",  get_advertisement,    HTTP_ROUTE_RATE_LIMITED },
        { HTTP_DELETE, "/api/v1/advertisements/{}",  delete_advertisement, HTTP_ROUTE_RATE_LIMITED },
};

const size_t discovery_n_routes = ELEMENTSOF(discovery_routes);
