/* SPDX-License-Identifier: MIT */
/* config_parse_file() on the input, written to a temporary file (created once per process,
 * rewritten for every input, removed at exit), with a settings struct that has a field for
 * every parser in conf-parser.h: the keys of golem-discoveryd's [Discovery] section plus a
 * [Test] section for the parsers and ranges discoveryd does not use. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "conf-parser.h"
#include "fuzz.h"
#include "macro.h"
#include "validate.h"

#define INPUT_MAX (64 * 1024)

typedef struct Settings {
        char *host;
        uint16_t port;
        char *database_dir;
        char *database_path;
        unsigned rate_limit;
        uint64_t ttl;
        uint64_t interval;

        char *string;
        bool flag;
        uint64_t u64_any;       /* max 0: UINT64_MAX */
        unsigned unsigned_any;  /* max 0: UINT32_MAX */
        unsigned unsigned_big;  /* max above UINT32_MAX: clamped */
        uint64_t u64_narrow;
        char *address;
        char *path;
} Settings;

#define ITEM(section, key, parser, field, lo, hi) \
        { section, key, NULL, parser, offsetof(Settings, field), lo, hi }

static const ConfigItem items[] = {
        ITEM("Discovery", "Host",               config_parse_ip_address, host,          0, 0),
        ITEM("Discovery", "Port",               config_parse_port,       port,          0, 0),
        ITEM("Discovery", "DatabaseDir",        config_parse_path,       database_dir,  0, 0),
        ITEM("Discovery", "DatabasePath",       config_parse_path,       database_path, 0, 0),
        ITEM("Discovery", "RateLimitPerMinute", config_parse_unsigned,   rate_limit,    0, 1000000),
        ITEM("Discovery", "AdvertisementTTL",   config_parse_uint64,     ttl,           1, 86400 * 365),
        ITEM("Discovery", "CleanupIntervalSec", config_parse_uint64,     interval,      1, 86400),
        ITEM("Test",      "String",             config_parse_string,     string,        0, 0),
        ITEM("Test",      "Bool",               config_parse_bool,       flag,          0, 0),
        ITEM("Test",      "U64",                config_parse_uint64,     u64_any,       0, 0),
        ITEM("Test",      "Unsigned",           config_parse_unsigned,   unsigned_any,  0, 0),
        ITEM("Test",      "UnsignedBig",        config_parse_unsigned,   unsigned_big,  5, UINT64_C(1) << 40),
        ITEM("Test",      "Narrow",             config_parse_uint64,     u64_narrow,    10, 20),
        ITEM("Test",      "Address",            config_parse_ip_address, address,       0, 0),
        ITEM("Test",      "Path",               config_parse_path,       path,          0, 0),
};

static char temp_path[] = "/tmp/fuzz-conf-parser.XXXXXX";
static int temp_fd = -1;

static void remove_temp(void) {
        if (temp_fd >= 0) {
                close(temp_fd);
                (void) unlink(temp_path);
                temp_fd = -1;
        }
}

static void write_temp(const uint8_t *data, size_t size) {
        size_t n = 0;

        if (temp_fd < 0) {
                temp_fd = mkostemp(temp_path, O_CLOEXEC);
                fuzz_check(temp_fd >= 0);
                atexit(remove_temp);
        }
        fuzz_check(ftruncate(temp_fd, 0) == 0);
        while (n < size) {
                ssize_t k = pwrite(temp_fd, data + n, size - n, (off_t) n);

                if (k < 0 && errno == EINTR)
                        continue;
                fuzz_check(k > 0);
                n += (size_t) k;
        }
}

static void settings_done(Settings *s) {
        free(s->host);
        free(s->database_dir);
        free(s->database_path);
        free(s->string);
        free(s->address);
        free(s->path);
}

static void check_address(const char *a) {
        char canonical[IP_ADDRESS_MAX];

        if (!a)
                return;
        fuzz_check(ip_address_canonicalize(a, canonical) == 0);
        fuzz_check(strcmp(a, canonical) == 0);
}

static void check_path(const char *p) {
        fuzz_check(!p || (p[0] == '/' && strlen(p) < 4096));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Settings s = {};
        char *error = NULL;
        int r;

        if (size > INPUT_MAX)
                return 0;

        write_temp(data, size);

        r = config_parse_file(items, ELEMENTSOF(items), temp_path, &s, &error);
        if (fuzz_verbose())
                fprintf(stderr, "%s\n", r < 0 ? strempty(error) : "accepted");
        if (r < 0) {
                fuzz_check(r == -EINVAL || r == -ENOMEM);
                /* Every -EINVAL names the file. */
                fuzz_check(r != -EINVAL || (error && strstr(error, temp_path) == error));
        } else {
                fuzz_check(r == 0);
                fuzz_check(!error);
        }

        /* Whatever was stored before a failure is valid too. */
        check_address(s.host);
        check_address(s.address);
        check_path(s.database_dir);
        check_path(s.database_path);
        check_path(s.path);
        fuzz_check(!s.string || s.string[0]);
        fuzz_check(s.rate_limit <= 1000000);
        fuzz_check(s.ttl == 0 || (s.ttl >= 1 && s.ttl <= 86400 * 365));
        fuzz_check(s.interval == 0 || (s.interval >= 1 && s.interval <= 86400));
        fuzz_check(s.unsigned_big == 0 || s.unsigned_big >= 5);
        fuzz_check(s.u64_narrow == 0 || (s.u64_narrow >= 10 && s.u64_narrow <= 20));

        settings_done(&s);
        free(error);
        return 0;
}
