/* SPDX-License-Identifier: Apache-2.0 */
/* Handle normalization.  Phone numbers are the hard part: people write them
 * nationally ("0532 123 45 67"), with 00 or + prefixes, with spaces, dashes
 * and parentheses; a source's default_country says which country a national
 * number belongs to. */
#include "handle.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <kanal/plugin.h>

#include "util.h"

/* The C locale's classes, which kanald runs in, for ASCII bytes, written
 * out: the <ctype.h> calls cost a call or a table look-up per byte of every
 * handle of every record, and no locale can change what these answer. */
static inline int ascii_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline int ascii_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline int ascii_lower(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}

static inline char ascii_tolower(unsigned char c)
{
    return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

struct country {
    const char iso[3];
    const char *code;  /* calling code */
    const char *trunk; /* national trunk prefix dropped in E.164, "" if none */
    int nsn_min, nsn_max; /* national significant number length */
};

/* Calling codes and trunk prefixes (ITU-T E.164 assignments). */
static const struct country countries[] = {
    {"TR", "90", "0", 10, 10},  {"DE", "49", "0", 6, 13},   {"GB", "44", "0", 9, 10},
    {"FR", "33", "0", 9, 9},    {"NL", "31", "0", 9, 9},    {"BE", "32", "0", 8, 9},
    {"AT", "43", "0", 4, 13},   {"CH", "41", "0", 9, 9},    {"ES", "34", "", 9, 9},
    {"IT", "39", "", 6, 11},    {"PT", "351", "", 9, 9},    {"IE", "353", "0", 7, 9},
    {"DK", "45", "", 8, 8},     {"SE", "46", "0", 7, 9},    {"NO", "47", "", 8, 8},
    {"FI", "358", "0", 5, 12},  {"PL", "48", "", 9, 9},     {"CZ", "420", "", 9, 9},
    {"SK", "421", "0", 9, 9},   {"HU", "36", "06", 8, 9},   {"RO", "40", "0", 9, 9},
    {"BG", "359", "0", 8, 9},   {"GR", "30", "", 10, 10},   {"CY", "357", "", 8, 8},
    {"HR", "385", "0", 8, 9},   {"SI", "386", "0", 8, 8},   {"RS", "381", "0", 8, 9},
    {"UA", "380", "0", 9, 9},   {"RU", "7", "8", 10, 10},   {"AZ", "994", "0", 9, 9},
    {"GE", "995", "0", 9, 9},   {"US", "1", "1", 10, 10},   {"CA", "1", "1", 10, 10},
    {"MX", "52", "", 10, 10},   {"BR", "55", "0", 10, 11},  {"AR", "54", "0", 10, 10},
    {"AU", "61", "0", 9, 9},    {"NZ", "64", "0", 8, 10},   {"JP", "81", "0", 9, 10},
    {"KR", "82", "0", 8, 10},   {"CN", "86", "0", 10, 11},  {"IN", "91", "0", 10, 10},
    {"PK", "92", "0", 9, 10},   {"AE", "971", "0", 8, 9},   {"SA", "966", "0", 8, 9},
    {"QA", "974", "", 8, 8},    {"EG", "20", "0", 9, 10},   {"IL", "972", "0", 8, 9},
    {"IR", "98", "0", 10, 10},  {"IQ", "964", "0", 10, 10}, {"ZA", "27", "0", 9, 9},
    {"NG", "234", "0", 8, 10},  {"KE", "254", "0", 9, 9},   {"MA", "212", "0", 9, 9},
    {"ID", "62", "0", 9, 12},   {"SG", "65", "", 8, 8},     {"MY", "60", "0", 9, 10},
    {"TH", "66", "0", 8, 9},    {"VN", "84", "0", 9, 10},   {"PH", "63", "0", 10, 10},
    {"KZ", "7", "8", 10, 10},   {"LU", "352", "", 4, 11},   {"EE", "372", "", 7, 8},
    {"LV", "371", "", 8, 8},    {"LT", "370", "8", 8, 8},   {"IS", "354", "", 7, 9},
};

static const struct country *country_find(const char *iso)
{
    if (!iso)
        return NULL;
    for (size_t i = 0; i < ARRAY_SIZE(countries); i++)
        if (strcasecmp(countries[i].iso, iso) == 0)
            return &countries[i];
    return NULL;
}

int handle_country_known(const char *iso)
{
    return country_find(iso) != NULL;
}

int handle_phone_e164(const char *in, const char *default_country, char *out, size_t out_len,
                      const char **why)
{
    char digits[64];
    size_t n = 0;
    int plus = 0;
    const char *p = in;
    while (ascii_space((unsigned char)*p))
        p++;
    if (*p == '+') {
        plus = 1;
        p++;
    }
    for (; *p; p++) {
        if (ascii_digit((unsigned char)*p)) {
            if (n + 1 >= sizeof digits) {
                *why = "phone number is too long";
                return KANAL_EHANDLE;
            }
            digits[n++] = *p;
        } else if (strchr(" -.()/\t", *p) == NULL) {
            *why = "phone number has characters other than digits, spaces, dashes, dots and "
                   "parentheses";
            return KANAL_EHANDLE;
        }
    }
    digits[n] = '\0';
    const char *intl = NULL;
    char buf[80];
    const struct country *c = country_find(default_country);
    if (plus) {
        intl = digits;
    } else if (strncmp(digits, "00", 2) == 0) {
        intl = digits + 2;
    } else if (c && strcmp(c->code, "1") == 0 && strncmp(digits, "011", 3) == 0) {
        intl = digits + 3;
    } else if (c) {
        const char *nsn = digits;
        size_t tl = strlen(c->trunk);
        size_t cl = strlen(c->code);
        if (tl && strncmp(digits, c->trunk, tl) == 0 && n - tl >= (size_t)c->nsn_min &&
            n - tl <= (size_t)c->nsn_max)
            nsn = digits + tl;
        else if (strncmp(digits, c->code, cl) == 0 && n - cl >= (size_t)c->nsn_min &&
                 n - cl <= (size_t)c->nsn_max && n > (size_t)c->nsn_max)
            /* Written internationally without the '+', as WhatsApp ids are. */
            nsn = digits + cl;
        snprintf(buf, sizeof buf, "%s%s", c->code, nsn);
        intl = buf;
    } else {
        *why = default_country ? "default_country is not a known ISO 3166 country code"
                               : "national phone number and the source sets no default_country";
        return KANAL_EHANDLE;
    }
    size_t len = strlen(intl);
    if (len < 8 || len > 15 || intl[0] == '0') {
        *why = "phone number is not a valid E.164 number (8 to 15 digits, no leading 0)";
        return KANAL_EHANDLE;
    }
    if (len + 2 > out_len)
        return -ENOBUFS;
    out[0] = '+';
    memcpy(out + 1, intl, len + 1);
    return 0;
}

static int valid_scheme(const char *s, size_t len)
{
    if (len == 0 || len > 32 || !ascii_lower((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!ascii_lower((unsigned char)s[i]) && !ascii_digit((unsigned char)s[i]) && s[i] != '-' &&
            s[i] != '_')
            return 0;
    return 1;
}

int handle_normalize(const char *in, const char *default_country, char *out, size_t out_len,
                     const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    const char *colon = strchr(in, ':');
    if (!colon) {
        *why = "handle is not of the form scheme:value";
        return KANAL_EHANDLE;
    }
    size_t slen = (size_t)(colon - in);
    if (!valid_scheme(in, slen)) {
        *why = "handle scheme must be lower-case letters, digits, '-' or '_'";
        return KANAL_EHANDLE;
    }
    const char *v = colon + 1;
    while (ascii_space((unsigned char)*v))
        v++;
    size_t vlen = strlen(v);
    while (vlen > 0 && ascii_space((unsigned char)v[vlen - 1]))
        vlen--;
    if (vlen == 0) {
        *why = "handle has an empty value";
        return KANAL_EHANDLE;
    }
    for (size_t i = 0; i < vlen; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
            *why = "handle value has control characters";
            return KANAL_EHANDLE;
        }
    if (slen + 1 + vlen + 1 > out_len)
        return -ENOBUFS;

    if (slen == 5 && strncmp(in, "phone", 5) == 0) {
        char value[80];
        if (vlen >= sizeof value) {
            *why = "phone number is too long";
            return KANAL_EHANDLE;
        }
        memcpy(value, v, vlen);
        value[vlen] = '\0';
        char e164[32];
        int r = handle_phone_e164(value, default_country, e164, sizeof e164, why);
        if (r < 0)
            return r;
        size_t el = strlen(e164);
        if (el + 7 > out_len)
            return -ENOBUFS;
        memcpy(out, "phone:", 6);
        memcpy(out + 6, e164, el + 1);
        return 0;
    }
    memcpy(out, in, slen + 1);
    char *o = out + slen + 1;
    if (slen == 5 && strncmp(in, "email", 5) == 0) {
        const char *at = memchr(v, '@', vlen);
        if (!at || at == v || at == v + vlen - 1 || memchr(at + 1, '@', vlen - (at - v) - 1)) {
            *why = "e-mail address must have one '@' with text on both sides";
            return KANAL_EHANDLE;
        }
        for (size_t i = 0; i < vlen; i++) {
            if (ascii_space((unsigned char)v[i])) {
                *why = "e-mail address has white space";
                return KANAL_EHANDLE;
            }
            o[i] = ascii_tolower((unsigned char)v[i]);
        }
        o[vlen] = '\0';
        return 0;
    }
    if ((slen == 2 && strncmp(in, "wa", 2) == 0) || (slen == 1 && in[0] == 'x')) {
        /* Numeric ids: WhatsApp's wa_id, X's user id. */
        size_t n = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (ascii_digit((unsigned char)v[i]))
                o[n++] = v[i];
            else if (!(i == 0 && v[i] == '+')) {
                *why = "this handle's value must be numeric";
                return KANAL_EHANDLE;
            }
        }
        if (n == 0) {
            *why = "this handle's value must be numeric";
            return KANAL_EHANDLE;
        }
        o[n] = '\0';
        return 0;
    }
    memcpy(o, v, vlen);
    o[vlen] = '\0';
    return 0;
}
