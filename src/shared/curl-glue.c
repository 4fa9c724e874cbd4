/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <dlfcn.h>
#include <limits.h>
#include <sys/epoll.h>

#include "curl-glue.h"
#include "list.h"
#include "http-client.h"
#include "log.h"

#ifndef GOLEM_VERSION
#define GOLEM_VERSION "0"
#endif

/* How late the timer curl asked for may fire: curl's own timeouts are in milliseconds. */
#define CURL_GLUE_TIMER_ACCURACY_USEC 1000ULL

/* ---- libcurl, loaded when first needed ---- */

/* The functions used; curl_easy_setopt() and curl_easy_getinfo() by their names, not
 * through the type-checking macros of <curl/curl.h>. */
#define CURL_SYMBOLS(X)                 \
        X(curl_easy_cleanup)            \
        X(curl_easy_getinfo)            \
        X(curl_easy_init)               \
        X(curl_easy_setopt)             \
        X(curl_easy_strerror)           \
        X(curl_free)                    \
        X(curl_global_cleanup)          \
        X(curl_global_init)             \
        X(curl_multi_add_handle)        \
        X(curl_multi_assign)            \
        X(curl_multi_cleanup)           \
        X(curl_multi_info_read)         \
        X(curl_multi_init)              \
        X(curl_multi_remove_handle)     \
        X(curl_multi_setopt)            \
        X(curl_multi_socket_action)     \
        X(curl_multi_strerror)          \
        X(curl_slist_append)            \
        X(curl_slist_free_all)          \
        X(curl_url)                     \
        X(curl_url_cleanup)             \
        X(curl_url_get)                 \
        X(curl_url_set)

#define CURL_SYMBOL_DECLARE(name) static typeof(name) *sym_##name;
CURL_SYMBOLS(CURL_SYMBOL_DECLARE)

static void *curl_dl;
static int curl_dl_error;

/* The sonames of libcurl 7 and 8 (one ABI), built against OpenSSL or, on Debian, GnuTLS. */
static const char *const curl_sonames[] = { "libcurl.so.4", "libcurl-gnutls.so.4" };

/* Opens libcurl once and for all (it is never closed: libcurl and its TLS library do not
 * take being unloaded). -ELIBACC when it is not there or lacks a function; the failure is
 * remembered. */
static int curl_load(void) {
        void *dl = NULL;

        if (curl_dl)
                return 0;
        if (curl_dl_error < 0)
                return curl_dl_error;

        for (size_t i = 0; i < ELEMENTSOF(curl_sonames) && !dl; i++)
                dl = dlopen(curl_sonames[i], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!dl) {
                log_debug("Failed to load libcurl (%s): https:// URLs cannot be used.", dlerror());
                return (curl_dl_error = -ELIBACC);
        }

#define CURL_SYMBOL_RESOLVE(name)                                               \
        sym_##name = (typeof(name) *) dlsym(dl, #name);                         \
        if (!sym_##name) {                                                      \
                log_debug("libcurl lacks %s(): https:// URLs cannot be used.", #name); \
                dlclose(dl);                                                    \
                return (curl_dl_error = -ELIBACC);                              \
        }
        CURL_SYMBOLS(CURL_SYMBOL_RESOLVE)
#undef CURL_SYMBOL_RESOLVE

        curl_dl = dl;
        return 0;
}

/* ---- the glue ---- */

typedef struct CurlSocket CurlSocket;

/* One socket curl asked us to watch. */
struct CurlSocket {
        CurlGlue *glue;
        curl_socket_t fd;
        sd_event_source *source;
        LIST_FIELDS(CurlSocket, sockets);
};

struct CurlRequest {
        CurlGlue *glue;

        /* Either the small client (http://) or libcurl. */
        HttpClientRequest *native;
        CURL *easy;

        struct curl_slist *headers;
        char *request_body;

        char *body;
        size_t size, allocated;
        bool too_big, oom;

        CurlRequestDone done;
        void *userdata;
        bool dispatching;

        char error[CURL_ERROR_SIZE];
        LIST_FIELDS(CurlRequest, requests);
};

struct CurlGlue {
        sd_event *event;
        CurlRequest *requests;

        /* libcurl's part, set up with the first request that needs it. */
        CURLM *multi;
        sd_event_source *timer;
        CurlSocket *sockets;
        bool curl_initialized;

        unsigned dispatching;
        bool free_pending;
};

static void curl_socket_free(CurlSocket *s) {
        if (!s)
                return;
        LIST_REMOVE(sockets, s->glue->sockets, s);
        /* curl owns the fd; the source only stops watching it. */
        sd_event_source_disable_unref(s->source);
        free(s);
}

static int on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata);
static void glue_dispatch(CurlGlue *g);

static int socket_function(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        CurlGlue *g = userp;
        CurlSocket *s = socketp;
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (s) {
                        (void) sym_curl_multi_assign(g->multi, fd, NULL);
                        curl_socket_free(s);
                }
                return 0;
        }

        if (what & CURL_POLL_IN)
                events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                events |= EPOLLOUT;

        if (!s) {
                s = calloc(1, sizeof(CurlSocket));
                if (!s)
                        return -1;
                s->glue = g;
                s->fd = fd;

                r = sd_event_add_io(g->event, &s->source, fd, events, on_io, g);
                if (r < 0) {
                        log_debug_errno(r, "Failed to watch curl socket %d: %m", (int) fd);
                        free(s);
                        return -1;
                }
                (void) sd_event_source_set_description(s->source, "curl-io");
                LIST_PREPEND(sockets, g->sockets, s);

                if (sym_curl_multi_assign(g->multi, fd, s) != CURLM_OK) {
                        curl_socket_free(s);
                        return -1;
                }
        } else {
                r = sd_event_source_set_io_events(s->source, events);
                if (r < 0) {
                        log_debug_errno(r, "Failed to change events of curl socket %d: %m", (int) fd);
                        return -1;
                }
        }

        r = sd_event_source_set_enabled(s->source, events != 0 ? SD_EVENT_ON : SD_EVENT_OFF);
        if (r < 0)
                return -1;
        return 0;
}

static int timer_function(CURLM *multi, long timeout_ms, void *userp) {
        CurlGlue *g = userp;
        int r;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(g->timer, SD_EVENT_OFF) < 0 ? -1 : 0;

        /* Even a timeout of 0 goes through the loop: curl must not be re-entered from here. */
        r = sd_event_source_set_time_relative(g->timer, (uint64_t) timeout_ms * 1000ULL);
        if (r < 0)
                return -1;
        r = sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT);
        if (r < 0)
                return -1;
        return 0;
}

static int on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        CurlGlue *g = userdata;
        int action = 0, running;
        CURLMcode mc;

        if (revents & EPOLLIN)
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;

        mc = sym_curl_multi_socket_action(g->multi, fd, action, &running);
        if (mc != CURLM_OK)
                log_debug("curl_multi_socket_action() failed on fd %d: %s", fd, sym_curl_multi_strerror(mc));

        glue_dispatch(g);
        return 0;
}

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        CurlGlue *g = userdata;
        int running;
        CURLMcode mc;

        mc = sym_curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        if (mc != CURLM_OK)
                log_debug("curl_multi_socket_action() failed on timeout: %s", sym_curl_multi_strerror(mc));

        glue_dispatch(g);
        return 0;
}

static void curl_request_free(CurlRequest *req) {
        if (!req)
                return;
        http_client_request_free(req->native);
        if (req->easy)
                sym_curl_easy_cleanup(req->easy);
        if (req->headers)
                sym_curl_slist_free_all(req->headers);
        free(req->request_body);
        free(req->body);
        free(req);
}

/* Takes a request out of the multi handle and the glue's list, and frees it. */
static void request_abort(CurlRequest *req) {
        CurlGlue *g = req->glue;

        if (req->easy)
                (void) sym_curl_multi_remove_handle(g->multi, req->easy);
        LIST_REMOVE(requests, g->requests, req);
        curl_request_free(req);
}

static void glue_destroy(CurlGlue *g) {
        while (g->requests)
                request_abort(g->requests);

        /* Cleaning up closes cached connections, which reports their sockets removed. */
        if (g->multi)
                (void) sym_curl_multi_cleanup(g->multi);
        while (g->sockets)
                curl_socket_free(g->sockets);

        sd_event_source_disable_unref(g->timer);
        sd_event_unref(g->event);
        if (g->curl_initialized)
                sym_curl_global_cleanup();
        free(g);
}

/* libcurl, its global state (reference counted by libcurl, balanced in glue_destroy()), the
 * multi handle and its timer. */
static int glue_setup_curl(CurlGlue *g) {
        int r;

        if (g->multi)
                return 0;

        r = curl_load();
        if (r < 0)
                return r;

        if (!g->curl_initialized) {
                if (sym_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return -EIO;
                g->curl_initialized = true;
        }

        if (!g->timer) {
                r = sd_event_add_time(g->event, &g->timer, CLOCK_MONOTONIC, 0,
                                      CURL_GLUE_TIMER_ACCURACY_USEC, on_timer, g);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_enabled(g->timer, SD_EVENT_OFF);
                (void) sd_event_source_set_description(g->timer, "curl-timer");
        }

        g->multi = sym_curl_multi_init();
        if (!g->multi)
                return -ENOMEM;

        if (sym_curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, socket_function) != CURLM_OK ||
            sym_curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g) != CURLM_OK ||
            sym_curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, timer_function) != CURLM_OK ||
            sym_curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g) != CURLM_OK) {
                (void) sym_curl_multi_cleanup(g->multi);
                g->multi = NULL;
                return -EIO;
        }
        return 0;
}

int curl_glue_new(sd_event *event, CurlGlue **ret) {
        CurlGlue *g;

        if (!event || !ret)
                return -EINVAL;

        g = calloc(1, sizeof(CurlGlue));
        if (!g)
                return -ENOMEM;
        g->event = sd_event_ref(event);

        *ret = g;
        return 0;
}

CurlGlue *curl_glue_free(CurlGlue *g) {
        if (!g)
                return NULL;

        if (g->dispatching > 0) {
                /* Called from a callback: cancel the rest now, free once the dispatch loop unwinds. */
                while (g->requests)
                        request_abort(g->requests);
                g->free_pending = true;
                return NULL;
        }

        glue_destroy(g);
        return NULL;
}

void curl_request_cancel(CurlRequest *req) {
        if (!req)
                return;

        if (req->dispatching) {
                /* Cancelled from its own callback: it is freed when that returns. */
                req->done = NULL;
                return;
        }

        request_abort(req);
}

/* Calls a finished request's callback and frees it; the glue goes too if it was freed meanwhile. */
static void request_finish(CurlRequest *req, int result, long status, const char *body, size_t body_size) {
        CurlGlue *g = req->glue;

        LIST_REMOVE(requests, g->requests, req);

        g->dispatching++;
        req->dispatching = true;
        if (req->done) {
                if (result < 0)
                        req->done(req, result, 0, NULL, 0, req->userdata);
                else
                        req->done(req, 0, status, body ?: "", body_size, req->userdata);
        }
        curl_request_free(req);
        g->dispatching--;

        if (g->dispatching == 0 && g->free_pending)
                glue_destroy(g);
}

static void on_native_done(HttpClientRequest *native, int result, long status,
                           const char *body, size_t body_size, void *userdata) {
        CurlRequest *req = userdata;

        req->native = NULL; /* the client frees it once this returns */
        if (result < 0)
                log_debug_errno(result, "HTTP request failed: %m");
        request_finish(req, result, status, body, body_size);
}

static int curl_code_to_errno(CurlRequest *req, CURLcode code) {
        long os_errno = 0;

        switch (code) {
        case CURLE_OK:
                return 0;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_COULDNT_CONNECT:
                if (sym_curl_easy_getinfo(req->easy, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK &&
                    os_errno > 0 && os_errno < 4096)
                        return -(int) os_errno;
                return -ECONNREFUSED;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_SSL_CONNECT_ERROR:           /* e.g. https:// to a plain HTTP server */
                return -EPROTO;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
                return -EKEYREJECTED;
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
                return -ECONNRESET;
        case CURLE_UNSUPPORTED_PROTOCOL:
                return -EPROTONOSUPPORT;
        case CURLE_FILESIZE_EXCEEDED:
                return -EFBIG;
        case CURLE_WRITE_ERROR:
                if (req->too_big)
                        return -EFBIG;
                if (req->oom)
                        return -ENOMEM;
                return -EIO;
        default:
                return -EIO;
        }
}

static void glue_dispatch(CurlGlue *g) {
        CURLMsg *msg;
        int left;

        g->dispatching++;

        while (!g->free_pending && (msg = sym_curl_multi_info_read(g->multi, &left))) {
                CurlRequest *req = NULL;
                CURLcode code;
                long status = 0;
                int r;

                if (msg->msg != CURLMSG_DONE)
                        continue;

                code = msg->data.result;
                if (sym_curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req) != CURLE_OK || !req) {
                        /* Not ours: cannot happen, but never spin on it. */
                        (void) sym_curl_multi_remove_handle(g->multi, msg->easy_handle);
                        continue;
                }

                r = curl_code_to_errno(req, code);
                if (r == 0 && sym_curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
                        r = -EIO;
                if (r < 0)
                        log_debug_errno(r, "HTTP request failed: %s: %m",
                                        req->error[0] ? req->error : sym_curl_easy_strerror(code));

                (void) sym_curl_multi_remove_handle(g->multi, req->easy);
                request_finish(req, r, status, req->body, req->size);
        }

        g->dispatching--;
        if (g->dispatching == 0 && g->free_pending)
                glue_destroy(g);
}

static size_t write_function(char *ptr, size_t size, size_t nmemb, void *userdata) {
        CurlRequest *req = userdata;
        size_t n = size * nmemb;

        if (n > CURL_GLUE_BODY_MAX - req->size) {
                req->too_big = true;
                return 0;
        }

        if (req->size + n + 1 > req->allocated) {
                size_t a = MAX(req->allocated * 2, req->size + n + 1);
                char *p;

                a = MIN(a, (size_t) CURL_GLUE_BODY_MAX + 1);
                p = realloc(req->body, a);
                if (!p) {
                        req->oom = true;
                        return 0;
                }
                req->body = p;
                req->allocated = a;
        }

        memcpy(req->body + req->size, ptr, n);
        req->size += n;
        req->body[req->size] = 0;
        return n;
}

static bool method_valid(const char *method) {
        if (isempty(method) || strlen(method) > 16)
                return false;
        for (const char *p = method; *p; p++)
                if (*p < 'A' || *p > 'Z')
                        return false;
        return true;
}

/* What the caller may set: any "Name: value" but the framing, which is ours (or curl's). */
static bool header_valid(const char *h) {
        static const char *const reserved[] = { "Host", "Content-Length", "Transfer-Encoding", "Connection" };

        if (!http_header_line_valid(h))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(reserved); i++) {
                size_t n = strlen(reserved[i]);

                if (strncasecmp(h, reserved[i], n) == 0 && h[n] == ':')
                        return false;
        }
        return true;
}

static bool scheme_valid(const char *url) {
        return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* Only absolute http:// and https:// URLs that curl itself can parse. */
static bool curl_url_valid(const char *url) {
        CURLU *u;
        char *scheme = NULL;
        bool ok = false;

        u = sym_curl_url();
        if (!u)
                return false;
        if (sym_curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            sym_curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK)
                ok = streq(scheme, "http") || streq(scheme, "https");
        sym_curl_free(scheme);
        sym_curl_url_cleanup(u);
        return ok;
}

/* libcurl takes http_proxy (lower case only, for http://), all_proxy and ALL_PROXY from the
 * environment; the small client knows no proxies, so then curl does it. */
static bool proxy_configured(void) {
        return !isempty(getenv("http_proxy")) || !isempty(getenv("all_proxy")) || !isempty(getenv("ALL_PROXY"));
}

#define SETOPT(easy, opt, value)                                                \
        do {                                                                    \
                CURLcode _c = sym_curl_easy_setopt((easy), (opt), (value));     \
                if (_c != CURLE_OK)                                             \
                        return _c == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;      \
        } while (0)

static int request_setup(CurlRequest *req, const char *method, const char *url,
                         const char *const *headers, const char *body, size_t body_size,
                         uint64_t timeout_usec) {
        CURL *e = req->easy;

        SETOPT(e, CURLOPT_PRIVATE, req);
        SETOPT(e, CURLOPT_ERRORBUFFER, req->error);
        SETOPT(e, CURLOPT_NOSIGNAL, 1L);
        SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
        SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
        SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
        SETOPT(e, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
        SETOPT(e, CURLOPT_REDIR_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        SETOPT(e, CURLOPT_URL, url);
        SETOPT(e, CURLOPT_USERAGENT, "golem/" GOLEM_VERSION);
        SETOPT(e, CURLOPT_WRITEFUNCTION, write_function);
        SETOPT(e, CURLOPT_WRITEDATA, req);
        SETOPT(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) CURL_GLUE_BODY_MAX);
        if (timeout_usec > 0)
                SETOPT(e, CURLOPT_TIMEOUT_MS, (long) MIN((timeout_usec + 999) / 1000, (uint64_t) LONG_MAX));

        if (streq(method, "HEAD"))
                SETOPT(e, CURLOPT_NOBODY, 1L);
        else if (!streq(method, "GET") && !streq(method, "POST"))
                SETOPT(e, CURLOPT_CUSTOMREQUEST, method);

        if (body || streq(method, "POST")) {
                req->request_body = malloc(body_size + 1);
                if (!req->request_body)
                        return -ENOMEM;
                if (body_size > 0)
                        memcpy(req->request_body, body, body_size);
                req->request_body[body_size] = 0;
                SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_size);
                SETOPT(e, CURLOPT_POSTFIELDS, req->request_body);
        }

        /* No "Expect: 100-continue" round trip for large bodies. */
        req->headers = sym_curl_slist_append(NULL, "Expect:");
        if (!req->headers)
                return -ENOMEM;
        for (const char *const *h = headers; h && *h; h++) {
                struct curl_slist *l;

                l = sym_curl_slist_append(req->headers, *h);
                if (!l)
                        return -ENOMEM;
                req->headers = l;
        }
        SETOPT(e, CURLOPT_HTTPHEADER, req->headers);

        return 0;
}

static int request_start_curl(CurlRequest *req, const char *method, const char *url,
                              const char *const *headers, const char *body, size_t body_size,
                              uint64_t timeout_usec) {
        CurlGlue *g = req->glue;
        CURLMcode mc;
        int r;

        r = glue_setup_curl(g);
        if (r < 0)
                return r;
        if (!curl_url_valid(url))
                return -EINVAL;

        req->easy = sym_curl_easy_init();
        if (!req->easy)
                return -ENOMEM;

        r = request_setup(req, method, url, headers, body, body_size, timeout_usec);
        if (r < 0)
                return r;

        mc = sym_curl_multi_add_handle(g->multi, req->easy);
        if (mc != CURLM_OK) {
                sym_curl_easy_cleanup(req->easy);
                req->easy = NULL;
                return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
        }
        return 0;
}

int curl_glue_request(CurlGlue *g, const char *method, const char *url,
                      const char *const *headers,
                      const char *body, size_t body_size, uint64_t timeout_usec,
                      CurlRequestDone done, void *userdata, CurlRequest **ret) {
        _cleanup_(http_url_done) HttpUrl u = {};
        CurlRequest *req;
        int r;

        if (!g || !done || !url || !method_valid(method))
                return -EINVAL;
        if (!body && body_size > 0)
                return -EINVAL;
        if (g->free_pending)
                return -ECANCELED;
        if (!scheme_valid(url))
                return -EINVAL;
        for (const char *const *h = headers; h && *h; h++)
                if (!header_valid(*h))
                        return -EINVAL;

        req = calloc(1, sizeof(CurlRequest));
        if (!req)
                return -ENOMEM;
        req->glue = g;
        req->done = done;
        req->userdata = userdata;

        /* What the small client cannot do (https://, proxies, a URL outside its strict
         * grammar) is libcurl's. */
        if (http_url_parse(url, &u) >= 0 && !u.https && !proxy_configured())
                r = http_client_request_start(g->event, method, &u, headers, body, body_size,
                                              CURL_GLUE_BODY_MAX, timeout_usec,
                                              on_native_done, req, &req->native);
        else
                r = request_start_curl(req, method, url, headers, body, body_size, timeout_usec);
        if (r < 0) {
                curl_request_free(req);
                return r;
        }
        LIST_PREPEND(requests, g->requests, req);

        if (ret)
                *ret = req;
        return 0;
}
