/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

#include "macro.h"
#include "parse-util.h"
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
        return token_valid(s, 128, "._:-");
}

bool platform_valid(const char *s) {
        return token_valid(s, 32, "._-");
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

static int base64_value(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int base64_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_size) {
        uint8_t *out, *w;

        if (n == 0 || n % 4 != 0)
                return -EINVAL;
        out = malloc(n / 4 * 3);
        if (!out)
                return -ENOMEM;
        w = out;

        for (size_t i = 0; i < n; i += 4) {
                int v[4];
                size_t pad = 0;

                for (size_t k = 0; k < 4; k++) {
                        if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                                v[k] = 0;
                                pad++;
                                continue;
                        }
                        v[k] = pad ? -1 : base64_value(s[i + k]);
                        if (v[k] < 0) {
                                free(out);
                                return -EINVAL;
                        }
                }
                /* "x=y=" is not padding. */
                if (pad == 1 && s[i + 2] == '=') {
                        free(out);
                        return -EINVAL;
                }
                *w++ = (uint8_t) (v[0] << 2 | v[1] >> 4);
                if (pad < 2)
                        *w++ = (uint8_t) ((v[1] & 0xf) << 4 | v[2] >> 2);
                if (pad < 1)
                        *w++ = (uint8_t) ((v[2] & 0x3) << 6 | v[3]);
        }

        *ret = out;
        *ret_size = (size_t) (w - out);
        return (int) *ret_size;
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

bool ssh_public_key_valid(const char *s) {
        const char *type_end, *blob, *blob_end;
        uint8_t *decoded = NULL;
        size_t n, type_len, decoded_size = 0;
        bool known = false, ok;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > SSH_KEY_MAX)
                return false;
        /* One line of printable ASCII (the comment may hold UTF-8, but no C1 control such as
         * NEL, a line break to YAML, and not U+FFFE or U+FFFF: cloud-init's YAML parser
         * refuses the user-data the key ends up in). */
        for (size_t i = 0; i < n; i++) {
                const unsigned char *u = (const unsigned char *) s + i;

                if (u[0] < 0x20 || u[0] == 0x7f)
                        return false;
                if (u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f)
                        return false;
                if (u[0] == 0xef && u[1] == 0xbf && (u[2] == 0xbe || u[2] == 0xbf))
                        return false;
        }

        type_end = strchr(s, ' ');
        if (!type_end)
                return false;
        type_len = (size_t) (type_end - s);
        for (size_t i = 0; i < ELEMENTSOF(ssh_key_types); i++)
                if (strlen(ssh_key_types[i]) == type_len && memcmp(s, ssh_key_types[i], type_len) == 0)
                        known = true;
        if (!known)
                return false;

        blob = type_end + 1;
        blob_end = strchrnul(blob, ' ');
        if (base64_decode(blob, (size_t) (blob_end - blob), &decoded, &decoded_size) < 0)
                return false;

        /* The blob starts with the type again, as an SSH string: uint32 length, bytes. */
        ok = decoded_size >= 4 + type_len &&
             ((uint32_t) decoded[0] << 24 | (uint32_t) decoded[1] << 16 |
              (uint32_t) decoded[2] << 8 | decoded[3]) == type_len &&
             memcmp(decoded + 4, s, type_len) == 0 &&
             decoded_size > 4 + type_len; /* and some key material after it */
        free(decoded);
        return ok;
}
