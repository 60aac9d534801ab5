# SPDX-License-Identifier: Apache-2.0
"""kanald --plugin-help NAME: a plugin's options, read from the .so kanald
would load (from the configuration's plugin_dir, or --plugin-dir), and the
options of every source; exit 1 naming the reason when there is no such
plugin or it was refused."""
import re
import subprocess

from kanal import KANALD, PLUGINS, TEST_PLUGINS

IN_TREE = ("webhook", "sms", "email", "facebook", "whatsapp", "twitter", "signup")


def help_of(*args):
    return subprocess.run([str(KANALD), "--plugin-help", *args], capture_output=True, text=True,
                          timeout=30)


def options_listed(out):
    """{name: (type, rest of the line)} of every option line."""
    return {m[1]: (m[2], m[3]) for m in
            re.finditer(r"^  (\w+) +(\w+) +(required|optional.*)$", out, re.M)}


def test_every_in_tree_plugin_lists_its_options_and_the_common_ones():
    for name in IN_TREE:
        out = help_of(name, "--plugin-dir", str(PLUGINS))
        assert out.returncode == 0, (name, out.stderr)
        assert out.stdout.startswith(f"plugin {name} "), out.stdout
        plugin_part, common_part = out.stdout.split("options of every source:")
        own, common = options_listed(plugin_part), options_listed(common_part)
        assert own, name  # every in-tree plugin has options
        assert common["plugin"][1] == "required" and "trust" in common
        assert not set(own) & set(common), name  # a plugin cannot redefine a common option
    out = help_of("webhook", "--plugin-dir", str(PLUGINS)).stdout
    own = options_listed(out.split("options of every source:")[0])
    assert own["secret"] == ("secret", "required")
    assert own["signature_header"] == ("string", "optional, default X-Kanal-Signature")
    assert own["send_timeout"] == ("duration", "optional, default 30s")
    assert "choices: auto|asserted|verified" in out  # an enum's choices
    assert "HMAC-SHA256 key shared with the sender" in out  # the help line


def test_plugin_dir_comes_from_the_configuration(make_kanald):
    k = make_kanald(sources="", plugins=("sms",))
    out = help_of("sms", "-c", str(k.conf))
    assert out.returncode == 0 and "auth_token" in out.stdout, out.stderr
    # webhook.so is not in that plugin_dir: not found, and the folder is named.
    out = help_of("webhook", "-c", str(k.conf))
    assert out.returncode == 1 and out.stdout == ""
    assert f"no plugin 'webhook' in {k.plugin_dir}" in out.stderr


def test_missing_refused_and_unreadable_are_exit_1_with_the_reason(make_kanald, tmp_path):
    out = help_of("nope", "--plugin-dir", str(PLUGINS))
    assert out.returncode == 1 and "no plugin 'nope'" in out.stderr
    for bad, why in (("badmajor", "major differs"), ("noentry", "no kanal_plugin_entry"),
                     ("toosmall", "descriptor is 16 bytes")):
        out = help_of(bad, "--plugin-dir", str(TEST_PLUGINS))
        assert out.returncode == 1 and out.stdout == "", bad
        assert f"plugin '{bad}' was refused" in out.stderr and why in out.stderr, out.stderr
    out = help_of("echo", "--plugin-dir", str(tmp_path / "no-such-dir"))
    assert out.returncode == 1 and "cannot read plugin_dir" in out.stderr
    k = make_kanald()
    k.write_config(text="[kanald]\nno_such_key = 1\n")
    out = help_of("webhook", "-c", str(k.conf))
    assert out.returncode == 1 and "--plugin-dir" in out.stderr and "no_such_key" in out.stderr
