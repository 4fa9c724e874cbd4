/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "parse-util.h"
#include "ssh-wire.h"
#include "validate.h"

int ip_address_canonicalize(const char *s, char ret[static IP_ADDRESS_MAX]) {
        unsigned char buf[sizeof(struct in6_addr)];
        int family;

        if (isempty(s) || strlen(s) >= IP_ADDRESS_MAX)
                return -EINVAL;

        /* inet_pton() takes exactly the dotted quad for AF_INET: no octal, no short forms. */
        if (inet_pton(AF_INET, s, buf) == 1)
                family = AF_INET;
        else if (inet_pton(AF_INET6, s, buf) == 1)
                family = AF_INET6;
        else
                return -EINVAL;

        if (!inet_ntop(family, buf, ret, IP_ADDRESS_MAX))
                return -EINVAL;
        return 0;
}

/* Officially assigned ISO 3166-1 alpha-2 codes, sorted. */
static const char iso3166_alpha2[] =
        "AD" "AE" "AF" "AG" "AI" "AL" "AM" "AO" "AQ" "AR" "AS" "AT" "AU" "AW" "AX" "AZ"
        "BA" "BB" "BD" "BE" "BF" "BG" "BH" "BI" "BJ" "BL" "BM" "BN" "BO" "BQ" "BR" "BS"
        "BT" "BV" "BW" "BY" "BZ" "CA" "CC" "CD" "CF" "CG" "CH" "CI" "CK" "CL" "CM" "CN"
        "CO" "CR" "CU" "CV" "CW" "CX" "CY" "CZ" "DE" "DJ" "DK" "DM" "DO" "DZ" "EC" "EE"
        "EG" "EH" "ER" "ES" "ET" "FI" "FJ" "FK" "FM" "FO" "FR" "GA" "GB" "GD" "GE" "GF"
        "GG" "GH" "GI" "GL" "GM" "GN" "GP" "GQ" "GR" "GS" "GT" "GU" "GW" "GY" "HK" "HM"
        "HN" "HR" "HT" "HU" "ID" "IE" "IL" "IM" "IN" "IO" "IQ" "IR" "IS" "IT" "JE" "JM"
        "JO" "JP" "KE" "KG" "KH" "KI" "KM" "KN" "KP" "KR" "KW" "KY" "KZ" "LA" "LB" "LC"
        "LI" "LK" "LR" "LS" "LT" "LU" "LV" "LY" "MA" "MC" "MD" "ME" "MF" "MG" "MH" "MK"
        "ML" "MM" "MN" "MO" "MP" "MQ" "MR" "MS" "MT" "MU" "MV" "MW" "MX" "MY" "MZ" "NA"
        "NC" "NE" "NF" "NG" "NI" "NL" "NO" "NP" "NR" "NU" "NZ" "OM" "PA" "PE" "PF" "PG"
        "PH" "PK" "PL" "PM" "PN" "PR" "PS" "PT" "PW" "PY" "QA" "RE" "RO" "RS" "RU" "RW"
        "SA" "SB" "SC" "SD" "SE" "SG" "SH" "SI" "SJ" "SK" "SL" "SM" "SN" "SO" "SR" "SS"
        "ST" "SV" "SX" "SY" "SZ" "TC" "TD" "TF" "TG" "TH" "TJ" "TK" "TL" "TM" "TN" "TO"
        "TR" "TT" "TV" "TW" "TZ" "UA" "UG" "UM" "US" "UY" "UZ" "VA" "VC" "VE" "VG" "VI"
        "VN" "VU" "WF" "WS" "YE" "YT" "ZA" "ZM" "ZW";

int country_code_canonicalize(const char *s, char ret[static 3]) {
        char c[2];
        size_t lo = 0, hi = (sizeof(iso3166_alpha2) - 1) / 2;

        if (!s || strlen(s) != 2)
                return -EINVAL;
        for (size_t i = 0; i < 2; i++) {
                if (!isascii((unsigned char) s[i]) || !isalpha((unsigned char) s[i]))
                        return -EINVAL;
                c[i] = (char) toupper((unsigned char) s[i]);
        }

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int d = memcmp(iso3166_alpha2 + mid * 2, c, 2);

                if (d == 0) {
                        ret[0] = c[0];
                        ret[1] = c[1];
                        ret[2] = 0;
                        return 0;
                }
                if (d < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -EINVAL;
}

bool provider_id_valid(const char *s) {
        return token_valid(s, PROVIDER_ID_MAX, "._:-");
}

bool platform_valid(const char *s) {
        return token_valid(s, PLATFORM_MAX, "._-");
}

bool resource_key_valid(const char *s) {
        size_t n;

        if (isempty(s))
                return false;
        n = strlen(s);
        return n <= 32 && string_in_charset(s, n, "abcdefghijklmnopqrstuvwxyz0123456789_");
}

bool vm_name_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n < 3 || n > 63)
                return false;
        if (!string_in_charset(s, n, "abcdefghijklmnopqrstuvwxyz0123456789-"))
                return false;
        if (s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
                return false;
        return true;
}

bool vm_name_reserved(const char *s) {
        return streq_ptr(s, "jobs");
}

static const char *const ssh_key_types[] = {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
};

static bool ssh_string_is(const uint8_t *b, size_t n, const char *s) {
        return n == strlen(s) && memcmp(b, s, n) == 0;
}

/* An uncompressed point on the curve's size. */
static bool ecdsa_point_valid(const uint8_t *q, size_t n, const char *curve) {
        size_t want = streq(curve, "nistp256") ? 65 : streq(curve, "nistp384") ? 97 : 133;
        return n == want && q[0] == 0x04;
}

/* Checks the decoded key blob has exactly the structure of its type, nothing more. */
static bool ssh_key_blob_valid(const char *type, const uint8_t *blob, size_t size) {
        SshReader r = SSH_READER(blob, size);
        const uint8_t *b;
        size_t n;

        if (ssh_read_string(&r, &b, &n) < 0 || !ssh_string_is(b, n, type))
                return false;

        if (streq(type, "ssh-ed25519") || streq(type, "sk-ssh-ed25519@openssh.com")) {
                if (ssh_read_string(&r, &b, &n) < 0 || n != 32)
                        return false;
        } else if (streq(type, "ssh-rsa")) {
                const uint8_t *e, *mod;
                size_t en, modn;

                if (ssh_read_string(&r, &e, &en) < 0 || en == 0 || en > 8 || (e[0] & 0x80) ||
                    ssh_read_string(&r, &mod, &modn) < 0)
                        return false;
                /* mpints: not negative (the top bit set with no zero byte before it, which
                 * OpenSSH refuses too); strip that one leading zero byte; n at least 1024 bits
                 * (so 128 bytes only with the top bit set), at most 16384. */
                if (modn > 0 && (mod[0] & 0x80))
                        return false;
                if (modn > 0 && mod[0] == 0) {
                        mod++;
                        modn--;
                }
                if (modn < 128 || modn > 2048 || mod[0] == 0 || (modn == 128 && !(mod[0] & 0x80)))
                        return false;
        } else {
                /* ecdsa-sha2-nistpNNN and sk-ecdsa-sha2-nistp256@openssh.com */
                const char *curve = strstr(type, "nistp");
                char c[16];

                if (!curve || ssh_read_string(&r, &b, &n) < 0)
                        return false;
                snprintf(c, sizeof(c), "%.8s", curve);
                if (!ssh_string_is(b, n, c))
                        return false;
                if (ssh_read_string(&r, &b, &n) < 0 || !ecdsa_point_valid(b, n, c))
                        return false;
        }

        /* Security keys also carry the application they belong to. */
        if (startswith(type, "sk-") && (ssh_read_string(&r, &b, &n) < 0 || n == 0))
                return false;
        return ssh_reader_empty(&r);
}

/* Strict UTF-8 holding only characters YAML 1.1 takes as printable (cloud-init parses what we
 * write with PyYAML): no C0 or C1 controls (NEL included), DEL, U+FFFE or U+FFFF; no overlong
 * forms or surrogates. Nor U+2028 or U+2029: YAML 1.1 reads them as line breaks even inside
 * the quoted JSON string we write, so PyYAML drops the spaces around them, and refuses the
 * whole user-data when "---" or "..." follows one. */
static bool utf8_yaml_safe(const char *s, size_t n) {
        const uint8_t *p = (const uint8_t *) s, *end = p + n;

        while (p < end) {
                uint32_t c;
                size_t len;

                if (*p < 0x80) {
                        if (*p < 0x20 || *p == 0x7f)
                                return false;
                        p++;
                        continue;
                }
                if ((*p & 0xe0) == 0xc0) {
                        len = 2;
                        c = *p & 0x1f;
                } else if ((*p & 0xf0) == 0xe0) {
                        len = 3;
                        c = *p & 0x0f;
                } else if ((*p & 0xf8) == 0xf0) {
                        len = 4;
                        c = *p & 0x07;
                } else
                        return false;
                if ((size_t) (end - p) < len)
                        return false;
                for (size_t i = 1; i < len; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        c = c << 6 | (p[i] & 0x3f);
                }
                if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
                    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ||
                    c <= 0x9f || c == 0x2028 || c == 0x2029 || c == 0xfffe || c == 0xffff)
                        return false;
                p += len;
        }
        return true;
}

bool ssh_private_key_like(const char *s) {
        return strstr(s, "PRIVATE KEY") || strstr(s, "PuTTY-User-Key-File");
}

bool ssh_public_key_valid(const char *s) {
        const char *type_end, *blob, *blob_end;
        uint8_t *decoded = NULL;
        size_t n, type_len, decoded_size = 0;
        char type[64];
        bool ok = false;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > SSH_KEY_MAX)
                return false;
        /* One line; the comment may hold UTF-8, but nothing YAML would choke on. */
        if (!utf8_yaml_safe(s, n))
                return false;

        type_end = strchr(s, ' ');
        if (!type_end)
                return false;
        type_len = (size_t) (type_end - s);
        for (size_t i = 0; i < ELEMENTSOF(ssh_key_types); i++)
                if (strlen(ssh_key_types[i]) == type_len && memcmp(s, ssh_key_types[i], type_len) == 0)
                        ok = true;
        if (!ok)
                return false;
        snprintf(type, sizeof(type), "%.*s", (int) type_len, s);

        blob = type_end + 1;
        blob_end = strchrnul(blob, ' ');
        if (base64_decode(blob, (size_t) (blob_end - blob), &decoded, &decoded_size) < 0)
                return false;
        ok = ssh_key_blob_valid(type, decoded, decoded_size);
        free(decoded);
        return ok;
}
