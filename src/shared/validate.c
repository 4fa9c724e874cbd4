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
