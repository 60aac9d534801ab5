/* SPDX-License-Identifier: Apache-2.0 */
/* kanald --plugin-help NAME: a plugin's options, for operators. */
#ifndef KANAL_PLUGINHELP_H
#define KANAL_PLUGINHELP_H

/* Print the options of plugin name, found in plugin_dir when given, else in
 * the plugin_dir of the configuration at config_path, then the options
 * every source has.  Returns the exit code: 0, or 1 after saying on stderr
 * why (not found, refused, configuration unreadable). */
int plugin_help(const char *name, const char *config_path, const char *plugin_dir);

#endif
