/*
 * C ABI test: runs every shared vector case through sipwake.h, plus checks of
 * the ABI contract itself (NULL pointers, invalid UTF-8, bad enum codes,
 * panics, per-thread last error). Run under valgrind by scripts/test-ios.sh.
 *
 *   vectors CASES_FILE RESULTS_FILE
 *
 * Built with -DSIPWAKE_NO_PANIC_PROBE for a release library (no panic-probe
 * feature), it leaves out the panic check (scripts/test-dist.sh).
 *
 * CASES_FILE comes from vectors.py prep (one hex-encoded case per line); the
 * results are written for vectors.py check, which compares them with the
 * vector files. Exit status: 0 when every contract check passed.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipwake.h"

#ifndef SIPWAKE_NO_PANIC_PROBE
/* Test-only export of the panic-probe build; deliberately not in the header. */
SipwakeStatusCode sipwake_debug_panic(char **out);
#endif

#define MAX_ARGS 64

typedef struct {
    char *data; /* NULL = absent ("-") */
    size_t len;
} Arg;

static int checks_passed, checks_failed;

static void check(int ok, const char *name, const char *detail) {
    if (ok) {
        checks_passed++;
    } else {
        checks_failed++;
        printf("FAIL %s: %s\n", name, detail ? detail : "");
    }
}

/* Per-case invariants: a failure is reported, a pass is not counted (the
 * case itself is counted by vectors.py check). */
static void invariant(int ok, const char *name, const char *detail) {
    if (!ok) check(0, name, detail);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decodes one field in place of a fresh buffer; "-" means absent. */
static int decode(const char *field, Arg *out) {
    out->data = NULL;
    out->len = 0;
    if (strcmp(field, "-") == 0) return 0;
    size_t n = strlen(field);
    if (n % 2) return -1;
    out->data = malloc(n / 2 + 1); /* +1: never a NULL pointer for "" */
    if (!out->data) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(field[2 * i]), lo = hexval(field[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out->data[i] = (char)(hi * 16 + lo);
    }
    out->len = n / 2;
    return 0;
}

static SipwakeStr S(const Arg *a) { return (SipwakeStr){a->data, a->len}; }

/* Optional argument: NULL when absent. `slot` provides the storage. */
static const SipwakeStr *O(const Arg *a, SipwakeStr *slot) {
    if (!a->data) return NULL;
    *slot = S(a);
    return slot;
}

/* Small decimal integers passed as text (enum codes, seconds). */
static long long num(const Arg *a) {
    char buf[32];
    size_t n = a->len < sizeof buf - 1 ? a->len : sizeof buf - 1;
    memcpy(buf, a->data, n);
    buf[n] = 0;
    return strtoll(buf, NULL, 10);
}

static void write_hex(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) fprintf(f, "%02x", (unsigned char)s[i]);
}

/* Runs one case; returns 0, or -1 when the function or arity is unknown. */
static int run_case(const char *fn, Arg *a, int n, SipwakeStatusCode *st, char **out) {
    SipwakeStr o1, o2, o3;
    *out = NULL;
#define NEED(k) if (n != (k)) return -1
    if (!strcmp(fn, "parse_mpush")) { NEED(1); *st = sipwake_parse_mpush(S(&a[0]), out); }
    else if (!strcmp(fn, "format_mpush")) {
        NEED(4); *st = sipwake_mpush_header((uint32_t)num(&a[0]), (uint32_t)num(&a[1]), S(&a[2]), S(&a[3]), out);
    } else if (!strcmp(fn, "mpush_to_pn")) {
        NEED(4); *st = sipwake_mpush_to_pn((uint32_t)num(&a[0]), (uint32_t)num(&a[1]), S(&a[2]), S(&a[3]), out);
    } else if (!strcmp(fn, "compute_piid")) {
        NEED(3); *st = sipwake_compute_piid(S(&a[0]), S(&a[1]), S(&a[2]), out);
    } else if (!strcmp(fn, "verify_piid")) {
        NEED(4);
        bool ok = false;
        *st = sipwake_verify_piid(S(&a[0]), S(&a[1]), S(&a[2]), S(&a[3]), &ok);
        if (*st == SIPWAKE_STATUS_OK) *out = strdup(ok ? "true" : "false");
    } else if (!strcmp(fn, "parse_pn_params")) { NEED(1); *st = sipwake_parse_pn_params(S(&a[0]), out); }
    else if (!strcmp(fn, "format_pn_params")) {
        NEED(4); *st = sipwake_format_pn_params(S(&a[0]), O(&a[1], &o1), O(&a[2], &o2), O(&a[3], &o3), out);
    } else if (!strcmp(fn, "pn_to_mpush")) {
        NEED(4); *st = sipwake_pn_to_mpush(S(&a[0]), O(&a[1], &o1), O(&a[2], &o2), O(&a[3], &o3), out);
    } else if (!strcmp(fn, "parse_fcm_data")) {
        if (n % 2) return -1;
        SipwakeKeyValue kv[MAX_ARGS / 2];
        for (int i = 0; i < n / 2; i++) kv[i] = (SipwakeKeyValue){S(&a[2 * i]), S(&a[2 * i + 1])};
        *st = sipwake_parse_fcm_data(n ? kv : NULL, (size_t)(n / 2), out);
    } else if (!strcmp(fn, "parse_apns")) { NEED(1); *st = sipwake_parse_apns(S(&a[0]), out); }
    else if (!strcmp(fn, "parse_webpush")) { NEED(1); *st = sipwake_parse_webpush(S(&a[0]), out); }
    else if (!strcmp(fn, "parse_push")) { NEED(1); *st = sipwake_parse_push(S(&a[0]), out); }
    else if (!strcmp(fn, "parse_feature_caps")) { NEED(1); *st = sipwake_parse_feature_caps(S(&a[0]), out); }
    else if (!strcmp(fn, "format_feature_caps")) {
        if (n < 3) return -1;
        SipwakeStr pns[MAX_ARGS];
        for (int i = 3; i < n; i++) pns[i - 3] = S(&a[i]);
        *st = sipwake_format_feature_caps(n > 3 ? pns : NULL, (size_t)(n - 3), num(&a[0]) != 0, num(&a[1]),
                                          O(&a[2], &o1), out);
    } else if (!strcmp(fn, "push_defaults")) { NEED(1); *st = sipwake_push_defaults(S(&a[0]), out); }
    else if (!strcmp(fn, "render_template")) { NEED(2); *st = sipwake_render_template(S(&a[0]), S(&a[1]), out); }
    else if (!strcmp(fn, "render_fcm")) {
        NEED(3); *st = sipwake_render_fcm(S(&a[0]), S(&a[1]), (int32_t)num(&a[2]), out);
    } else if (!strcmp(fn, "render_apns")) { NEED(1); *st = sipwake_render_apns(S(&a[0]), out); }
    else return -1;
#undef NEED
    return 0;
}

static int run_vectors(const char *cases_path, const char *results_path) {
    FILE *in = fopen(cases_path, "r"), *res = fopen(results_path, "w");
    if (!in || !res) {
        perror("open");
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int bad = 0;
    while ((got = getline(&line, &cap, in)) > 0) {
        if (line[got - 1] == '\n') line[got - 1] = 0;
        /* Split on every tab by hand: empty fields are empty-string args. */
        char *fields[MAX_ARGS + 2];
        int nf = 0, ok = 1;
        for (char *p = line;;) {
            if (nf == MAX_ARGS + 2) {
                ok = 0;
                break;
            }
            fields[nf++] = p;
            char *tab = strchr(p, '\t');
            if (!tab) break;
            *tab = 0;
            p = tab + 1;
        }
        ok = ok && nf >= 2;
        const char *id = fields[0], *fn = nf >= 2 ? fields[1] : "?";
        Arg args[MAX_ARGS];
        int n = 0;
        for (int i = 2; ok && i < nf; i++) {
            ok = decode(fields[i], &args[n]) == 0;
            n++;
        }
        SipwakeStatusCode st = SIPWAKE_STATUS_OK;
        char *out = NULL;
        if (!ok || run_case(fn, args, n, &st, &out) != 0) {
            printf("FAIL harness: cannot run case %s (%s)\n", id, fn);
            bad = 1;
        } else {
            const char *msg = sipwake_last_error_message();
            if (st == SIPWAKE_STATUS_OK) {
                invariant(out != NULL && msg == NULL, "ok result has output and no last error", fn);
                fprintf(res, "%s\tOK\t", id);
                write_hex(res, out, out ? strlen(out) : 0);
            } else {
                invariant(out == NULL && msg != NULL, "error leaves out untouched and sets last error", fn);
                fprintf(res, "%s\tERR\t%u\t", id, (unsigned)st);
                write_hex(res, msg, msg ? strlen(msg) : 0);
            }
            fputc('\n', res);
        }
        if (out) {
            /* verify_piid's "true"/"false" came from strdup, the rest from us. */
            if (!strcmp(fn, "verify_piid")) free(out); else sipwake_string_free(out);
        }
        for (int i = 0; i < n; i++) free(args[i].data);
    }
    free(line);
    fclose(in);
    fclose(res);
    return bad ? -1 : 0;
}

static SipwakeStr lit(const char *s) { return sipwake_str_from_c(s); }

static int msg_has(const char *want) {
    const char *m = sipwake_last_error_message();
    return m && strstr(m, want);
}

static void *other_thread(void *arg) {
    (void)arg;
    char *out = NULL;
    /* A success here must not clear the main thread's error. */
    SipwakeStatusCode st = sipwake_compute_piid(lit("u"), lit("r"), lit("p"), &out);
    sipwake_string_free(out);
    return st == SIPWAKE_STATUS_OK && sipwake_last_error_message() == NULL ? (void *)1 : NULL;
}

/* Many threads at once: each gets its own results and its own last error. */
static void *hammer(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < 300; i++) {
        char value[64], *out = NULL;
        snprintf(value, sizeof value, "a:com.x:t%ld-%d", id, i);
        if (sipwake_parse_mpush(lit(value), &out) != SIPWAKE_STATUS_OK || !strstr(out, value + 8)) {
            sipwake_string_free(out);
            return NULL;
        }
        sipwake_string_free(out);
        out = NULL;
        if (sipwake_parse_mpush(lit("x:bad"), &out) != SIPWAKE_STATUS_MPUSH || !msg_has("unknown provider") || out)
            return NULL;
    }
    return (void *)1;
}

static void contract_checks(void) {
    char *out = NULL;
    bool b = false;

    check(sipwake_parse_mpush(lit("a:p:t"), NULL) == SIPWAKE_STATUS_NULL_POINTER && msg_has("out must not be NULL"),
          "NULL out pointer", sipwake_last_error_message());
    check(sipwake_parse_mpush((SipwakeStr){NULL, 3}, &out) == SIPWAKE_STATUS_NULL_POINTER && out == NULL,
          "NULL string pointer", sipwake_last_error_message());
    check(sipwake_parse_mpush(sipwake_str_from_c(NULL), &out) == SIPWAKE_STATUS_NULL_POINTER,
          "NULL C string", sipwake_last_error_message());
    const char bad_utf8[] = {'a', ':', 'p', ':', (char)0xff, (char)0xfe};
    check(sipwake_parse_mpush((SipwakeStr){bad_utf8, sizeof bad_utf8}, &out) == SIPWAKE_STATUS_INVALID_UTF8 &&
              msg_has("value is not valid UTF-8"),
          "invalid UTF-8", sipwake_last_error_message());
    check(sipwake_mpush_header(7, SIPWAKE_PROVIDER_APNS, lit("p"), lit("t"), &out) == SIPWAKE_STATUS_INVALID_ARGUMENT &&
              msg_has("env"),
          "env code out of range", sipwake_last_error_message());
    check(sipwake_mpush_header(SIPWAKE_ENV_DEFAULT, 4, lit("p"), lit("t"), &out) == SIPWAKE_STATUS_INVALID_ARGUMENT,
          "provider code out of range", sipwake_last_error_message());
    check(sipwake_parse_fcm_data(NULL, 1, &out) == SIPWAKE_STATUS_NULL_POINTER, "NULL pairs with count",
          sipwake_last_error_message());
    check(sipwake_format_feature_caps(NULL, 0, true, 1LL << 40, NULL, &out) == SIPWAKE_STATUS_INVALID_ARGUMENT,
          "pnsreg seconds out of range", sipwake_last_error_message());
    check(sipwake_render_fcm(lit("{}"), lit("ios"), -1, &out) == SIPWAKE_STATUS_INVALID_ARGUMENT && msg_has("target"),
          "unknown render target", sipwake_last_error_message());
    check(sipwake_render_apns(lit("[1]"), &out) == SIPWAKE_STATUS_INVALID_ARGUMENT && msg_has("fields JSON"),
          "bad fields JSON", sipwake_last_error_message());
    check(out == NULL, "out untouched by failures", out);
    sipwake_string_free(NULL); /* documented no-op */

    check(sipwake_mpush_header(SIPWAKE_ENV_SANDBOX, SIPWAKE_PROVIDER_APNS, lit("com.x.voip"), lit("ab:cd"), &out) ==
                  SIPWAKE_STATUS_OK && out && !strcmp(out, "s:i:com.x.voip:ab:cd"),
          "typed mpush header", out);
    sipwake_string_free(out);
    out = NULL;
    check(sipwake_parse_fcm_data(NULL, 0, &out) == SIPWAKE_STATUS_OK && out && strstr(out, "\"kindName\":\"call\""),
          "empty FCM map is a call", out);
    sipwake_string_free(out);
    out = NULL;
    check(sipwake_feature_caps_supports(lit("*;+sip.pns=\"apns\""), lit("APNS"), &b) == SIPWAKE_STATUS_OK && b,
          "feature caps supports", sipwake_last_error_message());

    /* The last error is per thread. */
    sipwake_parse_mpush(lit("x:bad"), &out);
    pthread_t t;
    void *thread_ok = NULL;
    check(pthread_create(&t, NULL, other_thread, NULL) == 0 && pthread_join(t, &thread_ok) == 0 && thread_ok,
          "other thread's calls", "failed");
    check(msg_has("unknown provider"), "last error survives other threads", sipwake_last_error_message());

    pthread_t workers[4];
    int started = 0, all_ok = 1;
    for (long i = 0; i < 4; i++) started += pthread_create(&workers[i], NULL, hammer, (void *)i) == 0;
    for (int i = 0; i < started; i++) {
        void *r = NULL;
        all_ok &= pthread_join(workers[i], &r) == 0 && r != NULL;
    }
    check(started == 4 && all_ok, "4 threads x 300 calls", "wrong result or last error under concurrency");

#ifdef SIPWAKE_NO_PANIC_PROBE
    /* A release library has no probe to call; scripts/test-dist.sh checks
       with readelf that it does not export sipwake_debug_panic. */
    printf("panic probe: not called (SIPWAKE_NO_PANIC_PROBE, a release library)\n");
#else
    /* A panic is reported, not unwound, and the library stays usable. */
    check(sipwake_debug_panic(&out) == SIPWAKE_STATUS_PANIC && msg_has("panic probe") && out == NULL,
          "panic becomes SIPWAKE_STATUS_PANIC", sipwake_last_error_message());
    check(sipwake_parse_mpush(lit("null"), &out) == SIPWAKE_STATUS_OK && out && !strcmp(out, "{\"remove\":true}"),
          "usable after a panic", out);
    sipwake_string_free(out);
#endif
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s CASES_FILE RESULTS_FILE\n", argv[0]);
        return 2;
    }
    int vec = run_vectors(argv[1], argv[2]);
    contract_checks();
    printf("contract: %d passed, %d failed\n", checks_passed, checks_failed);
    return vec == 0 && checks_failed == 0 ? 0 : 1;
}
