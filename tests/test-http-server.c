/* SPDX-License-Identifier: MIT */
#include "http-server.h"
#include "macro.h"
#include "tests.h"

TEST(status_from_errno) {
        static const struct {
                int error;
                unsigned status;
        } table[] = {
                { ENOENT, 404 },
                { ENXIO, 404 },
                { EEXIST, 409 },
                { EBUSY, 409 },
                { EINVAL, 422 },
                { EBADMSG, 422 },
                { ERANGE, 400 },
                { EACCES, 401 },
                { EPERM, 401 },
                { E2BIG, 413 },
                { EAGAIN, 503 },
                { ENOSPC, 503 },
                { ENOMEM, 503 },
                { ECONNREFUSED, 503 },
                { EHOSTUNREACH, 503 },
                { EOPNOTSUPP, 405 },
                { ETIMEDOUT, 504 },
                { EIO, 500 },
                { EPROTONOSUPPORT, 500 },
                { EROFS, 500 },
                { 0, 500 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                TEST_CONTEXT("errno %d (%s)", table[i].error, strerror(table[i].error));
                /* Either sign. */
                ASSERT_EQ_INT(http_status_from_errno(-table[i].error), table[i].status);
                ASSERT_EQ_INT(http_status_from_errno(table[i].error), table[i].status);
        }
}

TEST(method_table) {
        static const char *const names[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS" };

        ASSERT_EQ_INT(ELEMENTSOF(names), _HTTP_METHOD_MAX);
        for (HttpMethod m = 0; m < _HTTP_METHOD_MAX; m++) {
                TEST_CONTEXT("method %d", m);
                ASSERT_STREQ(http_method_to_string(m), names[m]);
                ASSERT_EQ_INT(http_method_from_string(names[m]), m);
        }
        ASSERT_EQ_INT(http_method_from_string("get"), _HTTP_METHOD_INVALID); /* methods are case-sensitive */
        ASSERT_EQ_INT(http_method_from_string("TRACE"), _HTTP_METHOD_INVALID);
        ASSERT_EQ_INT(http_method_from_string(""), _HTTP_METHOD_INVALID);
        ASSERT_EQ_INT(http_method_from_string(NULL), -EINVAL);
        ASSERT_NULL(http_method_to_string(_HTTP_METHOD_MAX));
        ASSERT_NULL(http_method_to_string(_HTTP_METHOD_INVALID));
}
