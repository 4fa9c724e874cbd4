/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "time-util.h"

static usec_t now_clock(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

usec_t now_realtime(void) {
        return now_clock(CLOCK_REALTIME);
}

usec_t now_monotonic(void) {
        return now_clock(CLOCK_MONOTONIC);
}

const char *format_rfc3339(char buf[static RFC3339_MAX], usec_t t) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&sec, &tm) || tm.tm_year + 1900 > 9999 ||
            strftime(buf, RFC3339_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                buf[0] = 0;
        return buf;
}

int parse_rfc3339(const char *s, usec_t *ret) {
        char again[RFC3339_MAX];
        struct tm tm = {};
        const char *e;
        time_t t;

        if (!s || strlen(s) != RFC3339_MAX - 1)
                return -EINVAL;
        e = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!e || *e)
                return -EINVAL;
        t = timegm(&tm);
        if (t < 0)
                return -ERANGE;
        /* strptime() skips spaces before numbers ("T 2:13:20") and does not check the day
         * against the month, which timegm() then normalizes ("02-30" becomes "03-02"):
         * only what formats back the same is exactly the format. */
        if (!streq(format_rfc3339(again, (usec_t) t * USEC_PER_SEC), s))
                return -EINVAL;
        *ret = (usec_t) t * USEC_PER_SEC;
        return 0;
}
