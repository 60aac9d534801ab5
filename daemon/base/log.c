/* SPDX-License-Identifier: Apache-2.0 */
/* Log lines go to stderr.  Under systemd (JOURNAL_STREAM set) each line
 * starts with the sd-daemon priority prefix so the journal keeps the level,
 * and carries no timestamp of its own; otherwise lines carry an RFC 3339
 * timestamp and the level's name. */
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util.h"

/* Set at start and on reload (SIGHUP) while the writer thread may log. */
static int log_threshold = KANAL_LOG_INFO;
static int log_journal;

static const char *const level_names[] = {
    [KANAL_LOG_ERR] = "error",   [KANAL_LOG_WARNING] = "warning", [KANAL_LOG_NOTICE] = "notice",
    [KANAL_LOG_INFO] = "info",   [KANAL_LOG_DEBUG] = "debug",
};

void log_setup(int level, int journal)
{
    __atomic_store_n(&log_threshold, level, __ATOMIC_RELAXED);
    __atomic_store_n(&log_journal, journal, __ATOMIC_RELAXED);
}

int log_level_parse(const char *name)
{
    for (int i = KANAL_LOG_ERR; i <= KANAL_LOG_DEBUG; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    if (strcasecmp(name, "warn") == 0)
        return KANAL_LOG_WARNING;
    return -1;
}

const char *log_level_name(int level)
{
    if (level < KANAL_LOG_ERR || level > KANAL_LOG_DEBUG)
        return "log";
    return level_names[level];
}

void log_vmsg(int level, const char *source, const char *fmt, va_list ap)
{
    if (level > __atomic_load_n(&log_threshold, __ATOMIC_RELAXED))
        return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* One log line must stay one line: a provider's error text may carry
     * newlines. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    char src[160] = "";
    if (source)
        snprintf(src, sizeof src, "[%s] ", source);
    if (__atomic_load_n(&log_journal, __ATOMIC_RELAXED)) {
        fprintf(stderr, "<%d>%s%s\n", level, src, msg);
    } else {
        char ts[32];
        util_format_time(util_now_ms(), ts, sizeof ts);
        fprintf(stderr, "%s %s: %s%s\n", ts, log_level_name(level), src, msg);
    }
}

void log_msg(int level, const char *source, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, source, fmt, ap);
    va_end(ap);
}
