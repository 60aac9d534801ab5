/* SPDX-License-Identifier: Apache-2.0 */
/* Logging to stderr, or to the journal's stream with sd-daemon prefixes. */
#ifndef KANAL_LOG_H
#define KANAL_LOG_H

#include <stdarg.h>

#include <kanal/plugin.h>

/* Choose the threshold and whether to write "<N>" priority prefixes. */
void log_setup(int level, int journal);
int log_level_parse(const char *name);
const char *log_level_name(int level);

/* One line; source may be NULL when no source is involved. */
void log_msg(int level, const char *source, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(int level, const char *source, const char *fmt, va_list ap);

#define log_err(...) log_msg(KANAL_LOG_ERR, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(KANAL_LOG_WARNING, NULL, __VA_ARGS__)
#define log_notice(...) log_msg(KANAL_LOG_NOTICE, NULL, __VA_ARGS__)
#define log_info(...) log_msg(KANAL_LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_msg(KANAL_LOG_DEBUG, NULL, __VA_ARGS__)

#endif
