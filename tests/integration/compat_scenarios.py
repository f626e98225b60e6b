#!/usr/bin/python3
"""The scenario table of test_compat.py: what is sent, and for many
scenarios the exact (normalized) bytes memcached 1.6.18 answers.

A scenario is a list of steps on one connection to a fresh daemon:
  bytes        sent with one send(); consecutive chunks are separate
               send() calls with a short pause (split packets)
  Sleep(s)     wait (clock-dependent behaviour; at most ~2 s)
  callable     f(replies_so_far) -> bytes, e.g. with_cas() to reuse a CAS
The runner appends `mn\\r\\n` and reads until `MN\\r\\n` (or until EOF with
eof=True). In `expect`, CAS values read <casN> (Nth distinct CAS seen),
remaining TTLs are rounded up to tens and marked `~`, `l`/`la` readings of
0..2 s read <small>, and VERSION lines read VERSION <version>.
A comment marked SURPRISE flags memcached behaviour a reimplementation
would likely get wrong; COMPAT_NOTES.md lists them.
"""

import atexit
import base64
import os
import re
import time

from mchelper import check


class Sleep:
    """A scenario step: wait this many seconds."""

    def __init__(self, seconds):
        self.seconds = seconds


class Scenario:
    def __init__(self, name, steps, expect=None, eof=False, bytewise=False,
                 keep=(), args=(), ext_expect=None):
        self.name = name
        self.steps = steps
        self.expect = expect  # exact normalized reply memcached gives
        # A deliberate meshcached extension (see EXTENSIONS below): what a
        # daemon other than the reference must answer instead of memcached.
        self.ext_expect = ext_expect
        self.eof = eof  # the server closes the connection
        self.bytewise = bytewise  # send every byte in its own send()
        self.keep = {int(k) for k in keep}  # CAS values not to renumber
        self.args = list(args)  # extra daemon flags


SCENARIOS = []


def S(name, *steps, **kw):
    SCENARIOS.append(Scenario(name, list(steps), **kw))


CAS_IN_REPLY = re.compile(
    rb"^VALUE \S+ \d+ \d+ (\d+)\r$|(?:^(?:HD|VA \d+|EN|NF|NS|EX)(?: \S+)*? )c(\d+)(?= |\r$)",
    re.M)


def last_cas(replies):
    """The last CAS value the server has shown on this connection."""
    found = CAS_IN_REPLY.findall(replies)
    check(found, "scenario needs a cas but none was returned: %r" % replies)
    a, b = found[-1]
    return a or b


def with_cas(template):
    """A step: template with %CAS replaced by the last CAS seen."""
    return lambda replies: template.replace(b"%CAS", last_cas(replies))


def at_time(offset, template):
    """A step: template with %T replaced by now + offset (unix seconds)."""
    return lambda replies: template.replace(
        b"%T", b"%d" % (int(time.time()) + offset))


def b64(raw):
    return base64.b64encode(raw)


K250 = b"k" * 250
K251 = b"k" * 251
# Never equal to a CAS the server handed out (memcached counts from 1,
# meshcached uses clock-based versions far above this).
BAD_CAS = b"987654321"
MAX64 = b"18446744073709551615"


# === storage commands =======================================================

S("set_get_basic", b"set a 0 0 5\r\nhello\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a 0 5\r\nhello\r\nEND\r\nMN\r\n')
S("set_flags_max32", b"set a 4294967295 0 1\r\nx\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a 4294967295 1\r\nx\r\nEND\r\nMN\r\n')
# SURPRISE: flags above 32 bits are truncated, not refused.
S("set_flags_overflow_truncates",
  b"set a 4294967296 0 1\r\nx\r\nget a\r\nset b 4294967297 0 1\r\ny\r\nget b\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nSTORED\r\nVALUE b 1 1\r\ny\r\nEND\r\nMN\r\n')
# Bad command line: CLIENT_ERROR, and the data line is NOT swallowed but
# parsed as a command (ERROR).
S("set_flags_huge", b"set a 99999999999999999999 0 1\r\nx\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nERROR\r\nEND\r\nMN\r\n')
S("set_flags_negative", b"set a -1 0 1\r\nx\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nERROR\r\nEND\r\nMN\r\n')
S("set_flags_nonnumeric", b"set a abc 0 1\r\nx\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nERROR\r\nEND\r\nMN\r\n')
S("set_flags_trailing_junk", b"set a 12abc 0 1\r\nx\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nERROR\r\nEND\r\nMN\r\n')
S("set_exptime_nonnumeric", b"set a 0 abc 1\r\nx\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nERROR\r\nEND\r\nMN\r\n')
S("set_length_nonnumeric", b"set a 0 0 abc\r\nx\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nERROR\r\nEND\r\nMN\r\n')
S("set_length_negative", b"set a 0 0 -1\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nEND\r\nMN\r\n')
# SURPRISE: the length is truncated to 32 bits: 4294967296 reads as 0, so
# the two bytes "x\r" are the data block (bad chunk) and "\n" an empty line.
S("set_length_huge", b"set a 0 0 4294967296\r\nx\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\nMN\r\n')
S("set_length_plus_sign", b"set a 0 0 +1\r\nx\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("set_zero_length", b"set a 0 0 0\r\n\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a 0 0\r\n\r\nEND\r\nMN\r\n')
S("set_binary_value", b"set a 7 0 6\r\n\x00\r\n\xff\x01\n\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a 7 6\r\n\x00\r\n\xff\x01\n\r\nEND\r\nMN\r\n')
S("set_value_contains_crlf_commands",
  b"set a 0 0 12\r\nget a\r\nEND\r\n\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a 0 12\r\nget a\r\nEND\r\n\r\nEND\r\nMN\r\n')
S("set_overwrite_changes_flags",
  b"set a 1 0 1\r\nx\r\nset a 2 0 2\r\nyy\r\nget a\r\n",
  expect=b'STORED\r\nSTORED\r\nVALUE a 2 2\r\nyy\r\nEND\r\nMN\r\n')
S("set_missing_length", b"set a 0 0\r\nget a\r\n",
  expect=b'ERROR\r\nEND\r\nMN\r\n')
S("set_missing_everything", b"set\r\nset a\r\nget a\r\n",
  expect=b'ERROR\r\nERROR\r\nEND\r\nMN\r\n')
S("set_too_many_tokens", b"set a 0 0 1 noreply extra\r\nx\r\nget a\r\n",
  expect=b'ERROR\r\nERROR\r\nEND\r\nMN\r\n')
S("set_noreply", b"set a 0 0 1 noreply\r\nx\r\nget a\r\n",
  expect=b'VALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("set_noreply_misspelled", b"set a 0 0 1 noreplyx\r\nx\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
# SURPRISE: noreply hides error replies too.
S("set_noreply_bad_data", b"set a 0 0 1 noreply\r\nxyz\r\nget a\r\n",
  expect=b'ERROR\r\nEND\r\nMN\r\n')
S("set_bad_flags_noreply", b"set a abc 0 1 noreply\r\nx\r\nget a\r\n",
  expect=b'ERROR\r\nEND\r\nMN\r\n')
S("set_uppercase_command", b"SET a 0 0 1\r\nx\r\nGET a\r\n",
  expect=b'ERROR\r\nERROR\r\nERROR\r\nMN\r\n')

# Data block longer than declared: the declared length plus two bytes are
# consumed as the block, and what follows is parsed as commands.
S("data_too_long", b"set a 0 0 1\r\nxyz\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\nMN\r\n')
S("data_too_long_by_one", b"set a 0 0 1\r\nxy\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\nMN\r\n')
S("data_much_too_long", b"set a 0 0 2\r\nabcdefgh get a\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\nMN\r\n')
S("data_wrong_terminator", b"set a 0 0 2\r\nab\n\nget a\r\n",
  expect=b'CLIENT_ERROR bad data chunk\r\nEND\r\nMN\r\n')
S("data_lf_only_terminator", b"set a 0 0 2\r\nab\nget a\r\n",
  expect=b'CLIENT_ERROR bad data chunk\r\nERROR\r\nMN\r\n')
# Data block shorter than declared: the server keeps waiting for the rest,
# here the next command line completes the block.
S("data_too_short", b"set a 0 0 8\r\nab\r\n", b"get a\r\n", b"get a\r\n",
  expect=b'CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\nMN\r\n')
S("data_split_across_packets", b"set a 0 0 10\r\n01234", b"56789", b"\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a 0 10\r\n0123456789\r\nEND\r\nMN\r\n')
S("data_split_before_crlf", b"set a 0 0 3\r\nabc", b"\r", b"\nget a\r\n",
  expect=b'STORED\r\nVALUE a 0 3\r\nabc\r\nEND\r\nMN\r\n')
S("command_split_mid_line", b"se", b"t a 0 0 ", b"1\r", b"\nx\r\nge", b"t a\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("bytewise_set_get", b"set a 3 0 2\r\nhi\r\ngets a\r\nget a b\r\n", bytewise=True,
  expect=b'STORED\r\nVALUE a 3 2 <cas1>\r\nhi\r\nEND\r\nVALUE a 3 2\r\nhi\r\nEND\r\nMN\r\n')
S("bytewise_meta", b"ms a 2 T0 F5\r\nhi\r\nmg a v f k s\r\nmn\r\n", bytewise=True,
  expect=b'HD\r\nVA 2 f5 ka s2\r\nhi\r\nMN\r\nMN\r\n')

S("add_new", b"add a 0 0 1\r\nx\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("add_existing", b"set a 0 0 1\r\nx\r\nadd a 0 0 1\r\ny\r\nget a\r\n",
  expect=b'STORED\r\nNOT_STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("add_noreply", b"add a 0 0 1 noreply\r\nx\r\nadd a 0 0 1 noreply\r\ny\r\nget a\r\n",
  expect=b'VALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("add_after_expired", b"set a 0 -1 1\r\nx\r\nadd a 0 0 1\r\ny\r\nget a\r\n",
  expect=b'STORED\r\nSTORED\r\nVALUE a 0 1\r\ny\r\nEND\r\nMN\r\n')
S("replace_missing", b"replace a 0 0 1\r\nx\r\nget a\r\n",
  expect=b'NOT_STORED\r\nEND\r\nMN\r\n')
S("replace_existing", b"set a 1 0 1\r\nx\r\nreplace a 2 0 2\r\nyy\r\nget a\r\n",
  expect=b'STORED\r\nSTORED\r\nVALUE a 2 2\r\nyy\r\nEND\r\nMN\r\n')
S("replace_noreply", b"set a 0 0 1\r\nx\r\nreplace a 0 0 1 noreply\r\ny\r\nreplace b 0 0 1 noreply\r\nz\r\nget a b\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\ny\r\nEND\r\nMN\r\n')
S("append_missing", b"append a 0 0 1\r\nx\r\nget a\r\n",
  expect=b'NOT_STORED\r\nEND\r\nMN\r\n')
S("prepend_missing", b"prepend a 0 0 1\r\nx\r\nget a\r\n",
  expect=b'NOT_STORED\r\nEND\r\nMN\r\n')
# append/prepend keep the stored item's flags and ignore the given ones.
S("append_existing", b"set a 5 0 3\r\nabc\r\nappend a 9 0 2\r\nde\r\nget a\r\n",
  expect=b'STORED\r\nSTORED\r\nVALUE a 5 5\r\nabcde\r\nEND\r\nMN\r\n')
S("prepend_existing", b"set a 5 0 3\r\nabc\r\nprepend a 9 0 2\r\nde\r\nget a\r\n",
  expect=b'STORED\r\nSTORED\r\nVALUE a 5 5\r\ndeabc\r\nEND\r\nMN\r\n')
S("append_empty", b"set a 0 0 3\r\nabc\r\nappend a 0 0 0\r\n\r\nget a\r\n",
  expect=b'STORED\r\nSTORED\r\nVALUE a 0 3\r\nabc\r\nEND\r\nMN\r\n')
S("append_noreply", b"set a 0 0 1\r\nx\r\nappend a 0 0 1 noreply\r\ny\r\nprepend a 0 0 1 noreply\r\nw\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a 0 3\r\nwxy\r\nEND\r\nMN\r\n')
S("append_bad_data", b"set a 0 0 1\r\nx\r\nappend a 0 0 1\r\nyz\r\nget a\r\n",
  expect=b'STORED\r\nCLIENT_ERROR bad data chunk\r\nERROR\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("append_changes_cas", b"set a 0 0 1\r\nx\r\ngets a\r\nappend a 0 0 1\r\ny\r\ngets a\r\n",
  expect=b'STORED\r\nVALUE a 0 1 <cas1>\r\nx\r\nEND\r\nSTORED\r\nVALUE a 0 2 <cas2>\r\nxy\r\nEND\r\nMN\r\n')
S("append_bad_flags", b"set a 0 0 1\r\nx\r\nappend a zz 0 1\r\ny\r\nget a\r\n",
  expect=b'STORED\r\nCLIENT_ERROR bad command line format\r\nERROR\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')

# === cas ====================================================================

S("cas_missing", b"cas a 0 0 1 " + BAD_CAS + b"\r\nx\r\nget a\r\n",
  expect=b'NOT_FOUND\r\nEND\r\nMN\r\n')
S("cas_mismatch", b"set a 0 0 1\r\nx\r\ncas a 0 0 1 " + BAD_CAS + b"\r\ny\r\nget a\r\n",
  expect=b'STORED\r\nEXISTS\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("cas_match", b"set a 0 0 1\r\nx\r\ngets a\r\n",
  with_cas(b"cas a 3 0 1 %CAS\r\ny\r\ngets a\r\n"),
  expect=b'STORED\r\nVALUE a 0 1 <cas1>\r\nx\r\nEND\r\nMN\r\nSTORED\r\nVALUE a 3 1 <cas2>\r\ny\r\nEND\r\nMN\r\n')
S("cas_twice", b"set a 0 0 1\r\nx\r\ngets a\r\n",
  with_cas(b"cas a 0 0 1 %CAS\r\ny\r\ncas a 0 0 1 %CAS\r\nz\r\ngets a\r\n"),
  expect=b'STORED\r\nVALUE a 0 1 <cas1>\r\nx\r\nEND\r\nMN\r\nSTORED\r\nEXISTS\r\nVALUE a 0 1 <cas2>\r\ny\r\nEND\r\nMN\r\n')
S("cas_after_touch_still_matches", b"set a 0 0 1\r\nx\r\ngets a\r\n",
  with_cas(b"touch a 1000\r\ncas a 0 0 1 %CAS\r\ny\r\nget a\r\n"),
  expect=b'STORED\r\nVALUE a 0 1 <cas1>\r\nx\r\nEND\r\nMN\r\nTOUCHED\r\nSTORED\r\nVALUE a 0 1\r\ny\r\nEND\r\nMN\r\n')
S("cas_noreply", b"set a 0 0 1\r\nx\r\ngets a\r\n",
  with_cas(b"cas a 0 0 1 %CAS noreply\r\ny\r\ncas a 0 0 1 " + BAD_CAS +
           b" noreply\r\nz\r\ncas b 0 0 1 1 noreply\r\nw\r\nget a\r\n"),
  expect=b'STORED\r\nVALUE a 0 1 <cas1>\r\nx\r\nEND\r\nMN\r\nVALUE a 0 1\r\ny\r\nEND\r\nMN\r\n')
S("cas_nonnumeric", b"set a 0 0 1\r\nx\r\ncas a 0 0 1 abc\r\ny\r\nget a\r\n",
  expect=b'STORED\r\nCLIENT_ERROR bad command line format\r\nERROR\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("cas_negative", b"set a 0 0 1\r\nx\r\ncas a 0 0 1 -1\r\ny\r\nget a\r\n",
  expect=b'STORED\r\nCLIENT_ERROR bad command line format\r\nERROR\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("cas_missing_arg", b"set a 0 0 1\r\nx\r\ncas a 0 0 1\r\ny\r\nget a\r\n",
  expect=b'STORED\r\nERROR\r\nERROR\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("cas_zero", b"set a 0 0 1\r\nx\r\ncas a 0 0 1 0\r\ny\r\nget a\r\n",
  expect=b'STORED\r\nEXISTS\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("cas_bad_data", b"set a 0 0 1\r\nx\r\ngets a\r\n",
  with_cas(b"cas a 0 0 1 %CAS\r\nyy\r\nget a\r\n"),
  expect=b'STORED\r\nVALUE a 0 1 <cas1>\r\nx\r\nEND\r\nMN\r\nCLIENT_ERROR bad data chunk\r\nERROR\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("gets_multi", b"set a 1 0 1\r\nx\r\nset b 2 0 2\r\nyy\r\ngets a b c a\r\n",
  expect=b'STORED\r\nSTORED\r\nVALUE a 1 1 <cas1>\r\nx\r\nVALUE b 2 2 <cas2>\r\nyy\r\nVALUE a 1 1 <cas1>\r\nx\r\nEND\r\nMN\r\n')
S("gets_distinct_cas_per_write",
  b"set a 0 0 1\r\nx\r\ngets a\r\nset a 0 0 1\r\nx\r\ngets a\r\n",
  expect=b'STORED\r\nVALUE a 0 1 <cas1>\r\nx\r\nEND\r\nSTORED\r\nVALUE a 0 1 <cas2>\r\nx\r\nEND\r\nMN\r\n')
S("cas_disabled_C", b"set a 0 0 1\r\nx\r\ngets a\r\nmg a c\r\ncas a 0 0 1 0\r\ny\r\nget a\r\n",
  args=["-C"],
  expect=b'STORED\r\nVALUE a 0 1 0\r\nx\r\nEND\r\nHD c0\r\nEXISTS\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')

# === get family ===============================================================

S("get_miss", b"get a\r\n",
  expect=b'END\r\nMN\r\n')
S("get_multi_mixed", b"set b 0 0 1\r\nB\r\nget a b c b\r\n",
  expect=b'STORED\r\nVALUE b 0 1\r\nB\r\nVALUE b 0 1\r\nB\r\nEND\r\nMN\r\n')
S("get_no_key", b"get\r\n",
  expect=b'ERROR\r\nMN\r\n')
S("gets_no_key", b"gets\r\n",
  expect=b'ERROR\r\nMN\r\n')
S("get_key_250", b"set " + K250 + b" 0 0 1\r\nx\r\nget " + K250 + b"\r\n")
S("get_key_251", b"get " + K251 + b"\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nEND\r\nMN\r\n')
# SURPRISE: values already found for earlier keys are dropped (no END).
S("get_key_251_among_others", b"set a 0 0 1\r\nx\r\nget a " + K251 + b" a\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nMN\r\n')
S("set_key_251", b"set " + K251 + b" 0 0 1\r\nx\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nERROR\r\nEND\r\nMN\r\n')
S("set_key_251_long_value", b"set " + K251 + b" 0 0 30\r\n" + b"v" * 30 + b"\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nERROR\r\nEND\r\nMN\r\n')
S("get_many_keys", b"set k7 0 0 1\r\n7\r\nget " +
  b" ".join(b"k%d" % i for i in range(40)) + b"\r\n",
  expect=b'STORED\r\nVALUE k7 0 1\r\n7\r\nEND\r\nMN\r\n')
S("get_key_control_chars", b"set a\x01b 0 0 1\r\nx\r\nget a\x01b\r\n",
  expect=b'STORED\r\nVALUE a\x01b 0 1\r\nx\r\nEND\r\nMN\r\n')
# TAB is not a separator: it is part of the key.
S("get_key_tab", b"set a\tb 0 0 1\r\nx\r\nget a\tb\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a\tb 0 1\r\nx\r\nEND\r\nEND\r\nMN\r\n')
S("get_key_utf8", "set \u00e9t\u00e9 0 0 1\r\nx\r\nget \u00e9t\u00e9\r\n".encode(),
  expect=b'STORED\r\nVALUE \xc3\xa9t\xc3\xa9 0 1\r\nx\r\nEND\r\nMN\r\n')
S("get_key_del_char", b"set a\x7f 0 0 1\r\nx\r\nget a\x7f\r\n",
  expect=b'STORED\r\nVALUE a\x7f 0 1\r\nx\r\nEND\r\nMN\r\n')
S("gat_basic", b"set a 3 0 1\r\nx\r\ngat 995 a b\r\nmg a t\r\n",
  expect=b'STORED\r\nVALUE a 3 1\r\nx\r\nEND\r\nHD t1000~\r\nMN\r\n')
S("gats_basic", b"set a 3 0 1\r\nx\r\ngats 995 a\r\nmg a t c\r\n",
  expect=b'STORED\r\nVALUE a 3 1 <cas1>\r\nx\r\nEND\r\nHD t1000~ c<cas1>\r\nMN\r\n')
S("gat_missing_exptime", b"set a 0 0 1\r\nx\r\ngat a\r\n",
  expect=b'STORED\r\nCLIENT_ERROR invalid exptime argument\r\nMN\r\n')
S("gat_bad_exptime", b"set a 0 0 1\r\nx\r\ngat abc a\r\n",
  expect=b'STORED\r\nCLIENT_ERROR invalid exptime argument\r\nMN\r\n')
# SURPRISE: gat with no key answers END, get with no key answers ERROR.
S("gat_no_key", b"gat 10\r\n",
  expect=b'END\r\nMN\r\n')
# The value is returned, then the item is gone.
S("gat_negative_expires", b"set a 0 0 1\r\nx\r\ngat -1 a\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nEND\r\nMN\r\n')
S("gat_zero_clears_ttl", b"set a 0 995 1\r\nx\r\ngat 0 a\r\nmg a t\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nHD t-1\r\nMN\r\n')
S("gats_miss", b"gats 10 a b\r\n",
  expect=b'END\r\nMN\r\n')

S("gats_multi", b"set a 1 0 1\r\nx\r\nset b 2 0 2\r\nyy\r\ngats 995 b zz a b\r\nmg a t c\r\n",
  expect=b'STORED\r\nSTORED\r\nVALUE b 2 2 <cas1>\r\nyy\r\nVALUE a 1 1 <cas2>\r\nx\r\nVALUE b 2 2 <cas1>\r\nyy\r\nEND\r\nHD t1000~ c<cas2>\r\nMN\r\n')
# gat takes no noreply: the word is just one more key.
S("gat_noreply_is_a_key", b"set a 0 0 1\r\nx\r\ngat 995 a noreply\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')

# === incr / decr ============================================================

S("incr_missing", b"incr a 1\r\ndecr a 1\r\n",
  expect=b'NOT_FOUND\r\nNOT_FOUND\r\nMN\r\n')
S("incr_basic", b"set a 5 0 2\r\n10\r\nincr a 5\r\nget a\r\n",
  expect=b'STORED\r\n15\r\nVALUE a 5 2\r\n15\r\nEND\r\nMN\r\n')
# Growing past the stored length reallocates: the new length shows in get.
S("incr_adds_digit", b"set a 0 0 2\r\n99\r\nincr a 1\r\nget a\r\n",
  expect=b'STORED\r\n100\r\nVALUE a 0 3\r\n100\r\nEND\r\nMN\r\n')
# SURPRISE: decr that removes digits keeps the length, padding with spaces.
S("decr_removes_digit_pads_spaces", b"set a 0 0 3\r\n100\r\ndecr a 1\r\nget a\r\n",
  expect=b'STORED\r\n99\r\nVALUE a 0 3\r\n99 \r\nEND\r\nMN\r\n')
S("decr_pad_then_incr", b"set a 0 0 3\r\n100\r\ndecr a 91\r\nincr a 1\r\nget a\r\n",
  expect=b'STORED\r\n9\r\n10\r\nVALUE a 0 3\r\n10 \r\nEND\r\nMN\r\n')
S("decr_below_zero", b"set a 0 0 1\r\n5\r\ndecr a 10\r\nget a\r\n",
  expect=b'STORED\r\n0\r\nVALUE a 0 1\r\n0\r\nEND\r\nMN\r\n')
# Wraps to 0; the stored value keeps its 20-byte length (space padded).
S("incr_wraps_64bit", b"set a 0 0 20\r\n" + MAX64 + b"\r\nincr a 1\r\nget a\r\n",
  expect=b'STORED\r\n0\r\nVALUE a 0 20\r\n0                   \r\nEND\r\nMN\r\n')
S("incr_wraps_64bit_by_2", b"set a 0 0 20\r\n" + MAX64 + b"\r\nincr a 2\r\nget a\r\n",
  expect=b'STORED\r\n1\r\nVALUE a 0 20\r\n1                   \r\nEND\r\nMN\r\n')
S("incr_max_delta", b"set a 0 0 1\r\n0\r\nincr a " + MAX64 + b"\r\n",
  expect=b'STORED\r\n18446744073709551615\r\nMN\r\n')
S("incr_delta_overflow", b"set a 0 0 1\r\n0\r\nincr a 18446744073709551616\r\n",
  expect=b'STORED\r\nCLIENT_ERROR invalid numeric delta argument\r\nMN\r\n')
S("incr_value_overflow", b"set a 0 0 20\r\n18446744073709551616\r\nincr a 1\r\n",
  expect=b'STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nMN\r\n')
S("incr_non_numeric", b"set a 0 0 2\r\nab\r\nincr a 1\r\ndecr a 1\r\n",
  expect=b'STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nMN\r\n')
S("incr_numeric_prefix", b"set a 0 0 3\r\n12a\r\nincr a 1\r\n",
  expect=b'STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nMN\r\n')
S("incr_leading_space", b"set a 0 0 3\r\n 12\r\nincr a 1\r\nget a\r\n",
  expect=b'STORED\r\n13\r\nVALUE a 0 3\r\n13 \r\nEND\r\nMN\r\n')
S("incr_trailing_space", b"set a 0 0 3\r\n12 \r\nincr a 1\r\nget a\r\n",
  expect=b'STORED\r\n13\r\nVALUE a 0 3\r\n13 \r\nEND\r\nMN\r\n')
S("incr_leading_zeros", b"set a 0 0 4\r\n0012\r\nincr a 1\r\nget a\r\n",
  expect=b'STORED\r\n13\r\nVALUE a 0 4\r\n13  \r\nEND\r\nMN\r\n')
S("incr_negative_value", b"set a 0 0 2\r\n-5\r\nincr a 1\r\n",
  expect=b'STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nMN\r\n')
S("incr_empty_value", b"set a 0 0 0\r\n\r\nincr a 1\r\n",
  expect=b'STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nMN\r\n')
S("incr_long_value", b"set a 0 0 25\r\n0000000000000000000000001\r\nincr a 1\r\nget a\r\n",
  expect=b'STORED\r\n2\r\nVALUE a 0 25\r\n2                        \r\nEND\r\nMN\r\n')
S("incr_invalid_delta", b"set a 0 0 1\r\n1\r\nincr a abc\r\nincr a -1\r\nincr a 1x\r\ndecr a \r\n")
S("incr_missing_delta", b"set a 0 0 1\r\n1\r\nincr a\r\n",
  expect=b'STORED\r\nERROR\r\nMN\r\n')
S("incr_noreply", b"set a 0 0 1\r\n1\r\nincr a 5 noreply\r\ndecr a 2 noreply\r\nincr b 1 noreply\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\n4\r\nEND\r\nMN\r\n')
S("incr_keeps_flags", b"set a 77 0 1\r\n1\r\nincr a 1\r\nget a\r\n",
  expect=b'STORED\r\n2\r\nVALUE a 77 1\r\n2\r\nEND\r\nMN\r\n')
S("incr_changes_cas", b"set a 0 0 1\r\n1\r\ngets a\r\nincr a 1\r\ngets a\r\n",
  expect=b'STORED\r\nVALUE a 0 1 <cas1>\r\n1\r\nEND\r\n2\r\nVALUE a 0 1 <cas2>\r\n2\r\nEND\r\nMN\r\n')
S("incr_zero_delta", b"set a 0 0 2\r\n07\r\nincr a 0\r\nget a\r\n",
  expect=b'STORED\r\n7\r\nVALUE a 0 2\r\n7 \r\nEND\r\nMN\r\n')
S("decr_to_zero_exact", b"set a 0 0 2\r\n10\r\ndecr a 10\r\nget a\r\n",
  expect=b'STORED\r\n0\r\nVALUE a 0 2\r\n0 \r\nEND\r\nMN\r\n')
S("incr_key_251", b"incr " + K251 + b" 1\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nMN\r\n')

# === delete / touch =========================================================

S("delete_hit_miss", b"set a 0 0 1\r\nx\r\ndelete a\r\ndelete a\r\nget a\r\n",
  expect=b'STORED\r\nDELETED\r\nNOT_FOUND\r\nEND\r\nMN\r\n')
# SURPRISE: a time argument is accepted only if it is exactly "0".
S("delete_time_zero", b"set a 0 0 1\r\nx\r\ndelete a 0\r\nget a\r\n",
  expect=b'STORED\r\nDELETED\r\nEND\r\nMN\r\n')
S("delete_time_nonzero", b"set a 0 0 1\r\nx\r\ndelete a 10\r\nget a\r\n",
  expect=b'STORED\r\nCLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("delete_time_nonnumeric", b"set a 0 0 1\r\nx\r\ndelete a abc\r\nget a\r\n",
  expect=b'STORED\r\nCLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("delete_time_zero_noreply", b"set a 0 0 1\r\nx\r\ndelete a 0 noreply\r\nget a\r\n",
  expect=b'STORED\r\nEND\r\nMN\r\n')
S("delete_noreply", b"set a 0 0 1\r\nx\r\ndelete a noreply\r\ndelete a noreply\r\nget a\r\n",
  expect=b'STORED\r\nEND\r\nMN\r\n')
S("delete_too_many_args", b"set a 0 0 1\r\nx\r\ndelete a 0 noreply x\r\nget a\r\n",
  expect=b'STORED\r\nERROR\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("delete_no_key", b"delete\r\n",
  expect=b'ERROR\r\nMN\r\n')
S("delete_key_251", b"delete " + K251 + b"\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nMN\r\n')
S("touch_hit_miss", b"set a 0 0 1\r\nx\r\ntouch a 995\r\ntouch b 10\r\nmg a t\r\n",
  expect=b'STORED\r\nTOUCHED\r\nNOT_FOUND\r\nHD t1000~\r\nMN\r\n')
S("touch_noreply", b"set a 0 0 1\r\nx\r\ntouch a 995 noreply\r\ntouch b 1 noreply\r\nmg a t\r\n",
  expect=b'STORED\r\nHD t1000~\r\nMN\r\n')
S("touch_bad_exptime", b"set a 0 0 1\r\nx\r\ntouch a abc\r\nget a\r\n",
  expect=b'STORED\r\nCLIENT_ERROR invalid exptime argument\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("touch_missing_exptime", b"set a 0 0 1\r\nx\r\ntouch a\r\n",
  expect=b'STORED\r\nERROR\r\nMN\r\n')
S("touch_negative_expires", b"set a 0 0 1\r\nx\r\ntouch a -1\r\nget a\r\n",
  expect=b'STORED\r\nTOUCHED\r\nEND\r\nMN\r\n')
S("touch_key_251", b"touch " + K251 + b" 10\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nMN\r\n')

# === expiry =================================================================

S("exptime_negative_set", b"set a 0 -1 1\r\nx\r\nget a\r\nmg a\r\n",
  expect=b'STORED\r\nEND\r\nEN\r\nMN\r\n')
S("exptime_relative_ttl", b"set a 0 995 1\r\nx\r\nmg a t\r\n",
  expect=b'STORED\r\nHD t1000~\r\nMN\r\n')
S("exptime_30_days_is_relative", b"set a 0 2592000 1\r\nx\r\nmg a t\r\n",
  expect=b'STORED\r\nHD t2592000~\r\nMN\r\n')
# One second more than 30 days is an absolute unix time: 1970, long past.
S("exptime_absolute_past", b"set a 0 2592001 1\r\nx\r\nget a\r\n",
  expect=b'STORED\r\nEND\r\nMN\r\n')
S("exptime_absolute_recent_past", at_time(-10, b"set a 0 %T 1\r\nx\r\nget a\r\n"),
  expect=b'MN\r\nSTORED\r\nEND\r\nMN\r\n')
S("exptime_absolute_future", at_time(995, b"set a 0 %T 1\r\nx\r\nget a\r\nmg a t\r\n"),
  expect=b'MN\r\nSTORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nHD t1000~\r\nMN\r\n')
S("exptime_expires_after_ttl", b"set a 0 1 1\r\nx\r\nset b 0 995 1\r\ny\r\n",
  Sleep(2.1), b"get a b\r\n",
  expect=b'STORED\r\nSTORED\r\nVALUE b 0 1\r\ny\r\nEND\r\nMN\r\n')
S("exptime_touch_extends", b"set a 0 1 1\r\nx\r\ntouch a 995\r\n", Sleep(2.1), b"get a\r\n",
  expect=b'STORED\r\nTOUCHED\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
# 4294967295 truncates to -1: expired at once.
S("exptime_huge", b"set a 0 4294967295 1\r\nx\r\nget a\r\n",
  expect=b'STORED\r\nEND\r\nMN\r\n')
S("exptime_64bit", b"set a 0 99999999999 1\r\nx\r\nget a\r\n",
  expect=b'STORED\r\nEND\r\nMN\r\n')
S("exptime_negative_large", b"set a 0 -99999999999 1\r\nx\r\nget a\r\n",
  expect=b'STORED\r\nEND\r\nMN\r\n')

# === flush_all / version / verbosity / quit ================================

S("flush_all_basic", b"set a 0 0 1\r\nx\r\nflush_all\r\nget a\r\n",
  expect=b'STORED\r\nOK\r\nEND\r\nMN\r\n')
S("flush_all_zero", b"set a 0 0 1\r\nx\r\nflush_all 0\r\nget a\r\nset a 0 0 1\r\ny\r\nget a\r\n",
  expect=b'STORED\r\nOK\r\nEND\r\nSTORED\r\nVALUE a 0 1\r\ny\r\nEND\r\nMN\r\n')
S("flush_all_noreply", b"set a 0 0 1\r\nx\r\nflush_all noreply\r\nget a\r\n",
  expect=b'STORED\r\nEND\r\nMN\r\n')
S("flush_all_zero_noreply", b"set a 0 0 1\r\nx\r\nflush_all 0 noreply\r\nget a\r\n",
  expect=b'STORED\r\nEND\r\nMN\r\n')
# SURPRISE: a negative delay is accepted and flushes now.
S("flush_all_negative", b"set a 0 0 1\r\nx\r\nflush_all -1\r\nget a\r\n",
  expect=b'STORED\r\nOK\r\nEND\r\nMN\r\n')
S("flush_all_nonnumeric", b"set a 0 0 1\r\nx\r\nflush_all abc\r\nget a\r\n",
  expect=b'STORED\r\nCLIENT_ERROR invalid exptime argument\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
# SURPRISE: `flush_all 1` already hides items stored in the current second.
S("flush_all_delayed", b"set a 0 0 1\r\nx\r\nflush_all 1\r\nget a\r\n",
  Sleep(2.1), b"get a\r\n",
  expect=b'STORED\r\nOK\r\nEND\r\nEND\r\nMN\r\n')
S("flush_all_then_add", b"set a 0 0 1\r\nx\r\nflush_all\r\nadd a 0 0 1\r\ny\r\nget a\r\n",
  expect=b'STORED\r\nOK\r\nSTORED\r\nVALUE a 0 1\r\ny\r\nEND\r\nMN\r\n')
S("flush_all_too_many", b"flush_all 0 noreply x\r\n",
  expect=b'ERROR\r\nMN\r\n')
S("version", b"version\r\n",
  expect=b'VERSION <version>\r\nMN\r\n')
S("version_with_args", b"version x\r\n",
  expect=b'VERSION <version>\r\nMN\r\n')
S("verbosity", b"verbosity 1\r\nverbosity 0\r\n",
  expect=b'OK\r\nOK\r\nMN\r\n')
S("verbosity_missing", b"verbosity\r\n",
  expect=b'ERROR\r\nMN\r\n')
S("verbosity_nonnumeric", b"verbosity abc\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nMN\r\n')
# SURPRISE: `verbosity noreply` (no level) is silently accepted.
S("verbosity_noreply", b"verbosity 1 noreply\r\nverbosity noreply\r\n",
  expect=b'MN\r\n')
S("verbosity_too_many", b"verbosity 1 2 3\r\n",
  expect=b'ERROR\r\nMN\r\n')
S("quit", b"set a 0 0 1\r\nx\r\nget a\r\nquit\r\nget a\r\n", eof=True,
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n<CLOSED>')
# quit ignores arguments and closes.
S("quit_with_args", b"quit now\r\n", eof=True,
  expect=b'<CLOSED>')
S("quit_uppercase", b"QUIT\r\n",
  expect=b'ERROR\r\nMN\r\n')
# SURPRISE: an unknown command whose last word starts with HTTP/ (a browser's
# request sent across protocols) closes the connection without a word; a
# get's key that looks like it does not.
S("http_request_closes", b"GET / HTTP/1.1\r\nget a\r\n", eof=True, expect=b'<CLOSED>')
S("http_post_closes", b"POST /x HTTP/1.0\r\n", eof=True, expect=b'<CLOSED>')
S("http_key_in_a_get", b"get a HTTP/1.1\r\n", expect=b'END\r\nMN\r\n')
S("http_not_last_word", b"foo HTTP/1.1 x\r\n", expect=b'ERROR\r\nMN\r\n')

# === unknown commands and line syntax ======================================

S("unknown_command", b"foo\r\nbar baz\r\n",
  expect=b'ERROR\r\nERROR\r\nMN\r\n')
S("empty_line", b"\r\n\r\n",
  expect=b'ERROR\r\nERROR\r\nMN\r\n')
S("lf_only_lines", b"set a 0 0 1\nx\r\nget a\nversion\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nVERSION <version>\r\nMN\r\n')
S("lf_only_data_terminator", b"set a 0 0 1\r\nx\nget a\r\n",
  expect=b'CLIENT_ERROR bad data chunk\r\nERROR\r\nMN\r\n')
# A lone \r is a key byte: this looks up key "a\rb".
S("cr_in_middle_of_line", b"get a\rb\r\n",
  expect=b'END\r\nMN\r\n')
S("only_cr", b"\r\r\r\n",
  expect=b'ERROR\r\nMN\r\n')
S("leading_spaces", b"  get a\r\n  set a 0 0 1\r\nx\r\n get a\r\n",
  expect=b'END\r\nSTORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("multiple_spaces", b"set  a   0 0  1\r\nx\r\nget  a   a\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("trailing_spaces", b"set a 0 0 1   \r\nx\r\nget a   \r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("tab_separator", b"set\ta 0 0 1\r\nx\r\nget\ta\r\n",
  expect=b'ERROR\r\nERROR\r\nERROR\r\nMN\r\n')
S("nul_in_command", b"get\x00 a\r\nge\x00t a\r\n",
  expect=b'ERROR\r\nERROR\r\nMN\r\n')
S("only_spaces", b"   \r\n",
  expect=b'ERROR\r\nMN\r\n')
# SURPRISE: a command line ends at its first NUL byte (C string parsing):
# "set a\0b 0 0 1" is "set a" (ERROR); "get a\0b" looks up "a".
S("get_key_nul_byte", b"set a\x00b 0 0 1\r\nx\r\nget a\r\nset a 0 0 1\r\nA\r\n"
  b"get a\x00b c\r\nmg a\x00b v\r\n",
  expect=b'ERROR\r\nERROR\r\nEND\r\nSTORED\r\nVALUE a 0 1\r\nA\r\nEND\r\nHD\r\nMN\r\n')
S("set_nul_in_numbers", b"set a 0 0 1\x00\r\nx\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
S("too_many_tokens_get_ok", b"set a 0 0 1\r\nx\r\nget " + b"a " * 30 + b"\r\n")
S("too_many_tokens_incr", b"incr a 1 noreply a b c d e f g h i j k l m n o p q r s t u v\r\n",
  expect=b'ERROR\r\nMN\r\n')
S("stats_bogus_sub", b"stats bogus\r\n",
  expect=b'ERROR\r\nMN\r\n')
S("pipelined_mixed",
  b"set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nincr a 5\r\nget a b\r\n"
  b"delete b\r\nbogus\r\nadd a 0 0 1\r\nz\r\nappend a 0 0 1\r\n!\r\nget a b\r\n"
  b"touch a 10\r\nmg a v\r\nmn\r\nversion\r\n")
S("pipelined_many_sets", b"".join(b"set k%d 0 0 %d\r\n%d\r\n" % (i, len(b"%d" % i), i)
                                  for i in range(50)) +
  b"get " + b" ".join(b"k%d" % i for i in range(0, 50, 7)) + b"\r\n")
S("pipelined_errors_then_ok", b"set a 0 0 1\r\nxx\r\nget a\r\nfoo\r\nset a 0 0 1\r\nz\r\nget a\r\n",
  expect=b'CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\nERROR\r\nSTORED\r\nVALUE a 0 1\r\nz\r\nEND\r\nMN\r\n')
# SURPRISE: 4294967297 truncates to length 1.
S("set_length_wraps_32bit", b"set a 0 0 4294967297\r\nx\r\nget a\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\n')
# SURPRISE: exptime truncates to 32 bits: 2^32 + 995 is a 995 s ttl.
S("exptime_wraps_32bit", b"set a 0 4294968291 1\r\nx\r\nmg a t v\r\n",
  expect=b'STORED\r\nVA 1 t1000~\r\nx\r\nMN\r\n')
S("flush_all_delayed_2s", b"set a 0 0 1\r\nx\r\nflush_all 2\r\nget a\r\n",
  Sleep(2.1), b"get a\r\n",
  expect=b'STORED\r\nOK\r\nVALUE a 0 1\r\nx\r\nEND\r\nEND\r\nMN\r\n')

# === meta: mn / mg ============================================================

S("mn_basic", b"mn\r\nmn\r\n",
  expect=b'MN\r\nMN\r\nMN\r\n')
S("mn_with_flags", b"mn O123 k\r\n",
  expect=b'MN\r\nMN\r\n')
# On a miss, k and O are still echoed (request order); s is not.
S("mg_miss", b"mg a\r\nmg a v\r\nmg a k O9 s\r\n",
  expect=b'EN\r\nEN\r\nEN ka O9\r\nMN\r\n')
S("mg_hit_no_flags", b"set a 0 0 1\r\nx\r\nmg a\r\n",
  expect=b'STORED\r\nHD\r\nMN\r\n')
S("mg_value", b"set a 5 0 3\r\nabc\r\nmg a v\r\n",
  expect=b'STORED\r\nVA 3\r\nabc\r\nMN\r\n')
S("mg_all_return_flags", b"set a 5 995 3\r\nabc\r\nmg a s v f t k O77 c h l\r\n",
  expect=b'STORED\r\nVA 3 s3 f5 t1000~ ka O77 c<cas1> h0 l<small>\r\nabc\r\nMN\r\n')
S("mg_flag_order_follows_request", b"set a 5 0 3\r\nabc\r\nmg a O1 k f s v\r\nmg a v s f k O1\r\n",
  expect=b'STORED\r\nVA 3 O1 ka f5 s3\r\nabc\r\nVA 3 s3 f5 ka O1\r\nabc\r\nMN\r\n')
S("mg_opaque_variants", b"set a 0 0 1\r\nx\r\nmg a Oabc\r\nmg a O\r\nmg b O1234567890123456789012345678901234567890\r\n",
  expect=b'STORED\r\nHD Oabc\r\nHD O\r\nCLIENT_ERROR opaque token too long\r\nMN\r\n')
S("mg_no_ttl", b"set a 0 0 1\r\nx\r\nmg a t\r\n",
  expect=b'STORED\r\nHD t-1\r\nMN\r\n')
S("mg_hit_before", b"set a 0 0 1\r\nx\r\nmg a h\r\nmg a h\r\nmg a h\r\n",
  expect=b'STORED\r\nHD h0\r\nHD h1\r\nHD h1\r\nMN\r\n')
S("mg_hit_before_get", b"set a 0 0 1\r\nx\r\nget a\r\nmg a h\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nHD h1\r\nMN\r\n')
S("mg_last_access", b"set a 0 0 1\r\nx\r\nmg a l\r\nmg a l h\r\n",
  expect=b'STORED\r\nHD l<small>\r\nHD l<small> h1\r\nMN\r\n')
S("mg_no_lru_bump", b"set a 0 0 1\r\nx\r\nmg a u h\r\nmg a h\r\n",
  expect=b'STORED\r\nHD h0\r\nHD h0\r\nMN\r\n')
S("mg_quiet_miss", b"mg a q v\r\nmg b q\r\nmn\r\n",
  expect=b'MN\r\nMN\r\n')
# q hides only misses (EN) for mg; a hit without v still says HD.
S("mg_quiet_hit", b"set a 0 0 1\r\nx\r\nmg a q v k\r\nmg a q\r\nmn\r\n",
  expect=b'STORED\r\nVA 1 ka\r\nx\r\nHD\r\nMN\r\nMN\r\n')
S("mg_quiet_pipeline", b"set b 0 0 1\r\nB\r\nmg a q v k\r\nmg b q v k\r\nmg c q v k\r\nmn\r\n",
  expect=b'STORED\r\nVA 1 kb\r\nB\r\nMN\r\nMN\r\n')
S("mg_key_250", b"set " + K250 + b" 0 0 1\r\nx\r\nmg " + K250 + b" v k\r\n")
S("mg_key_251", b"mg " + K251 + b" v\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nMN\r\n')
S("mg_no_key", b"mg\r\n",
  expect=b'ERROR\r\nMN\r\n')
S("mg_bad_flag", b"set a 0 0 1\r\nx\r\nmg a !\r\nmg a v ?\r\nmg a X\r\n",
  expect=b'STORED\r\nCLIENT_ERROR invalid flag\r\nCLIENT_ERROR invalid flag\r\nCLIENT_ERROR invalid flag\r\nMN\r\n')
S("mg_flag_token_too_long", b"set a 0 0 1\r\nx\r\nmg a v " + b"O" + b"9" * 40 + b"\r\n",
  expect=b'STORED\r\nCLIENT_ERROR opaque token too long\r\nMN\r\n')
S("mg_duplicate_flags", b"set a 0 0 1\r\nx\r\nmg a v v k k\r\n",
  expect=b'STORED\r\nCLIENT_ERROR duplicate flag\r\nMN\r\n')
# SURPRISE: mg says "options flags are too long", ms "options flags too long".
S("mg_many_flags", b"set a 0 0 1\r\nx\r\nmg a " + b" ".join([b"v"] * 30) + b"\r\n",
  expect=b'STORED\r\nCLIENT_ERROR options flags are too long\r\nMN\r\n')
S("mg_base64_key", b"set foo 3 0 3\r\nbar\r\nmg " + b64(b"foo") + b" b v k f\r\n",
  expect=b'STORED\r\nVA 3 kfoo f3\r\nbar\r\nMN\r\n')
S("mg_base64_binary_key", b"ms " + b64(b"a\x00b\r\n") + b" 1 b\r\nx\r\nmg " +
  b64(b"a\x00b\r\n") + b" b v k\r\nmg " + b64(b"a\x00b") + b" b v\r\n",
  expect=b'HD\r\nVA 1 kYQBiDQo= b\r\nx\r\nEN\r\nMN\r\n')
S("mg_base64_garbage", b"mg !!!! b v\r\nmg Zm9 b v\r\nmg Zm9v= b v\r\n",
  expect=b'CLIENT_ERROR error decoding key\r\nCLIENT_ERROR error decoding key\r\nCLIENT_ERROR error decoding key\r\nMN\r\n')
S("mg_base64_key_too_long", b"mg " + b64(b"k" * 251) + b" b v\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nMN\r\n')
# SURPRISE: the 250-byte limit applies to the base64 text, not the key;
# the data line is then not swallowed (ERROR).
S("mg_base64_key_250", b"ms " + b64(K250) + b" 1 b\r\nx\r\nmg " + K250 + b" v\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nERROR\r\nEN\r\nMN\r\n')
S("mg_touch_T", b"set a 0 0 1\r\nx\r\nmg a T995 t v\r\nmg a t\r\n",
  expect=b'STORED\r\nVA 1 t1000~\r\nx\r\nHD t1000~\r\nMN\r\n')
S("mg_touch_T_negative", b"set a 0 0 1\r\nx\r\nmg a T-1 v\r\nmg a v\r\n",
  expect=b'STORED\r\nVA 1\r\nx\r\nEN\r\nMN\r\n')
S("mg_touch_T_bad", b"set a 0 0 1\r\nx\r\nmg a Tabc v\r\n",
  expect=b'STORED\r\nCLIENT_ERROR bad token in command line format\r\nMN\r\n')
# Vivify: the first miss creates an empty item and wins (W); later gets
# see Z (a winner exists), even without N. EN is never returned.
S("mg_vivify_miss", b"mg a N30 v t c s f\r\nmg a N30 v t c\r\nmg a v\r\n",
  expect=b'VA 0 t30~ c<cas1> s0 f0 W\r\n\r\nVA 0 t30~ c<cas1> Z\r\n\r\nVA 0 Z\r\n\r\nMN\r\n')
S("mg_vivify_no_value_flag", b"mg a N30\r\nmg a N30\r\n",
  expect=b'HD W\r\nHD Z\r\nMN\r\n')
S("mg_vivify_hit", b"set a 0 0 1\r\nx\r\nmg a N30 v\r\n",
  expect=b'STORED\r\nVA 1\r\nx\r\nMN\r\n')
S("mg_vivify_then_set", b"mg a N30 c\r\n", with_cas(b"ms a 1 C%CAS\r\nx\r\nmg a v c t\r\n"),
  expect=b'HD c<cas1> W\r\nMN\r\nHD\r\nVA 1 c<cas2> t-1\r\nx\r\nMN\r\n')
S("mg_vivify_bad_token", b"mg a Nabc v\r\n",
  expect=b'CLIENT_ERROR bad token in command line format\r\nMN\r\n')
S("mg_recache_fresh", b"set a 0 995 1\r\nx\r\nmg a R30 v t\r\n",
  expect=b'STORED\r\nVA 1 t1000~\r\nx\r\nMN\r\n')
S("mg_recache_stale", b"set a 0 25 1\r\nx\r\nmg a R30 v\r\nmg a R30 v\r\nmg a v\r\n",
  expect=b'STORED\r\nVA 1 W\r\nx\r\nVA 1 Z\r\nx\r\nVA 1 Z\r\nx\r\nMN\r\n')
S("mg_recache_no_ttl", b"set a 0 0 1\r\nx\r\nmg a R30 v\r\n",
  expect=b'STORED\r\nVA 1\r\nx\r\nMN\r\n')
# SURPRISE: 1.6.18 has no E (explicit CAS) flag on any meta command.
# EXTENSION E: meshcached takes E as later memcached does (the token is the
# CAS of an item the command creates or modifies); its peers need it.
S("mg_E_flag", b"set a 0 0 1\r\nx\r\nmg a E5555 c v\r\nmg b N30 E5555 c\r\n",
  keep=[5555],
  expect=b'STORED\r\nCLIENT_ERROR invalid flag\r\nCLIENT_ERROR invalid flag\r\nMN\r\n',
  ext_expect=b'STORED\r\nVA 1 c<cas1>\r\nx\r\nHD c5555 W\r\nMN\r\n')
S("mg_after_noreply_error", b"mg a v q\r\nfoo\r\nmn\r\n",
  expect=b'ERROR\r\nMN\r\nMN\r\n')

# === meta: ms ===============================================================

S("ms_basic", b"ms a 3\r\nabc\r\nmg a v f t\r\nget a\r\n",
  expect=b'HD\r\nVA 3 f0 t-1\r\nabc\r\nVALUE a 0 3\r\nabc\r\nEND\r\nMN\r\n')
S("ms_flags_ttl", b"ms a 3 F77 T995\r\nabc\r\nmg a v f t\r\n",
  expect=b'HD\r\nVA 3 f77 t1000~\r\nabc\r\nMN\r\n')
# b declares the key base64; "a" is not valid base64.
S("ms_b_flag_plain_key", b"ms a 3 c k O42 b\r\nabc\r\nmg a v\r\n",
  expect=b'CLIENT_ERROR error decoding key\r\nEN\r\nMN\r\n')
S("ms_return_flags2", b"ms a 3 k O42 c\r\nabc\r\nmg a c\r\n",
  expect=b'HD ka O42 c<cas1>\r\nHD c<cas1>\r\nMN\r\n')
# q hides HD for ms but not NS.
S("ms_quiet", b"ms a 1 q\r\nx\r\nms a 1 q MA\r\ny\r\nms b 1 q ME\r\nz\r\nms b 1 q ME\r\nw\r\nmn\r\nget a b\r\n",
  expect=b'NS\r\nMN\r\nVALUE a 0 2\r\nxy\r\nVALUE b 0 1\r\nz\r\nEND\r\nMN\r\n')
S("ms_zero_length", b"ms a 0\r\n\r\nmg a v s\r\n",
  expect=b'HD\r\nVA 0 s0\r\n\r\nMN\r\n')
S("ms_missing_length", b"ms a\r\nmn\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nMN\r\nMN\r\n')
S("ms_no_key", b"ms\r\n",
  expect=b'ERROR\r\nMN\r\n')
S("ms_bad_length", b"ms a abc\r\nx\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nERROR\r\nMN\r\n')
S("ms_negative_length", b"ms a -1\r\nx\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nERROR\r\nMN\r\n')
S("ms_bad_data_chunk", b"ms a 1\r\nxyz\r\nmg a v\r\n",
  expect=b'CLIENT_ERROR bad data chunk\r\nERROR\r\nEN\r\nMN\r\n')
S("ms_data_split", b"ms a 5 T0\r\nab", b"cde", b"\r\nmg a v\r\n",
  expect=b'HD\r\nVA 5\r\nabcde\r\nMN\r\n')
# ms with a bad flag swallows the data block (unlike classic set).
S("ms_invalid_flag", b"ms a 1 !\r\nx\r\nmg a v\r\n",
  expect=b'CLIENT_ERROR invalid flag\r\nEN\r\nMN\r\n')
# ...but with a bad key the data line is parsed as a command.
S("ms_key_251", b"ms " + K251 + b" 1\r\nx\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nERROR\r\nMN\r\n')
# SURPRISE: modes are case-sensitive; lowercase is an invalid mode.
S("ms_mode_set", b"ms a 1 MS\r\nx\r\nms a 1 Ms\r\ny\r\nmg a v\r\n",
  expect=b'HD\r\nCLIENT_ERROR invalid mode for ms M token\r\nVA 1\r\nx\r\nMN\r\n')
S("ms_mode_add", b"ms a 1 ME\r\nx\r\nms a 1 ME\r\ny\r\nmg a v\r\nms b 1 Me\r\nz\r\n",
  expect=b'HD\r\nNS\r\nVA 1\r\nx\r\nCLIENT_ERROR invalid mode for ms M token\r\nMN\r\n')
S("ms_mode_replace", b"ms a 1 MR\r\nx\r\nset a 0 0 1\r\ny\r\nms a 1 MR\r\nz\r\nmg a v\r\n",
  expect=b'NS\r\nSTORED\r\nHD\r\nVA 1\r\nz\r\nMN\r\n')
S("ms_mode_append", b"ms a 1 MA\r\nx\r\nset a 7 0 1\r\ny\r\nms a 1 MA F9\r\nz\r\nmg a v f\r\n",
  expect=b'NS\r\nSTORED\r\nHD\r\nVA 2 f7\r\nyz\r\nMN\r\n')
S("ms_mode_prepend", b"ms a 1 MP\r\nx\r\nset a 7 0 1\r\ny\r\nms a 1 MP\r\nz\r\nmg a v f\r\n",
  expect=b'NS\r\nSTORED\r\nHD\r\nVA 2 f7\r\nzy\r\nMN\r\n')
S("ms_mode_invalid", b"ms a 1 MZ\r\nx\r\nmg a v\r\n",
  expect=b'CLIENT_ERROR invalid mode for ms M token\r\nEN\r\nMN\r\n')
S("ms_mode_empty", b"ms a 1 M\r\nx\r\nmg a v\r\n",
  expect=b'CLIENT_ERROR incorrect length for M token\r\nEN\r\nMN\r\n')
S("ms_mode_long", b"ms a 1 MSS\r\nx\r\nmg a v\r\n",
  expect=b'CLIENT_ERROR incorrect length for M token\r\nEN\r\nMN\r\n')
# ms MA with N on a miss does not create the item in 1.6.18: NS.
S("ms_append_vivify", b"ms a 1 MA N995\r\nx\r\nmg a v t\r\n",
  expect=b'NS\r\nEN\r\nMN\r\n')
S("ms_compare_cas_ok", b"ms a 1 c\r\nx\r\n", with_cas(b"ms a 1 C%CAS c\r\ny\r\nmg a v c\r\n"),
  expect=b'HD c<cas1>\r\nMN\r\nHD c<cas2>\r\nVA 1 c<cas2>\r\ny\r\nMN\r\n')
S("ms_compare_cas_bad", b"ms a 1\r\nx\r\nms a 1 C" + BAD_CAS + b"\r\ny\r\nmg a v\r\n",
  expect=b'HD\r\nEX\r\nVA 1\r\nx\r\nMN\r\n')
S("ms_compare_cas_missing", b"ms a 1 C" + BAD_CAS + b"\r\ny\r\nmg a v\r\n",
  expect=b'NF\r\nEN\r\nMN\r\n')
S("ms_compare_cas_bad_token", b"ms a 1 Cxyz\r\ny\r\n",
  expect=b'CLIENT_ERROR bad token in command line format\r\nMN\r\n')
S("ms_E_flag", b"ms a 1 E12345 c\r\nx\r\nmg a c v\r\ngets a\r\n", keep=[12345],
  expect=b'CLIENT_ERROR invalid flag\r\nEN\r\nEND\r\nMN\r\n',
  ext_expect=b'HD c12345\r\nVA 1 c12345\r\nx\r\nVALUE a 0 1 12345\r\nx\r\nEND\r\nMN\r\n')
S("ms_invalidate_I", b"ms a 1 c\r\nx\r\nmd a I T30\r\nmg a v c\r\n",
  with_cas(b"ms a 1 I C%CAS\r\ny\r\nmg a v c\r\n"),
  expect=b'HD c<cas1>\r\nHD\r\nVA 1 c<cas2> X W\r\nx\r\nMN\r\nHD\r\nVA 1 c<cas3>\r\ny\r\nMN\r\n')
# ms I with a CAS older than the (invalidated) item's: stored, still stale.
S("ms_invalidate_cas_older", b"ms a 1 c\r\nx\r\nmd a I T30\r\n",
  with_cas(b"ms a 1 I C%CAS c\r\ny\r\nmg a v c\r\nmg a v c\r\n"),
  expect=b'HD c<cas1>\r\nHD\r\nMN\r\nHD c<cas2>\r\nVA 1 c<cas2> X W\r\ny\r\nVA 1 c<cas2> Z X\r\ny\r\nMN\r\n')
S("ms_invalidate_cas_bad", b"ms a 1 c\r\nx\r\nms a 1 I C" + BAD_CAS + b"\r\ny\r\nmg a v\r\n",
  expect=b'HD c<cas1>\r\nEX\r\nVA 1\r\nx\r\nMN\r\n')
S("ms_invalidate_no_cas", b"ms a 1\r\nx\r\nmd a I\r\nms a 1 I\r\ny\r\nmg a v\r\n",
  expect=b'HD\r\nHD\r\nHD\r\nVA 1\r\ny\r\nMN\r\n')
S("ms_base64_key_return", b"ms " + b64(b"hello") + b" 2 b k\r\nhi\r\nmg hello v k\r\n",
  expect=b'HD kaGVsbG8= b\r\nVA 2 kaGVsbG8= b\r\nhi\r\nMN\r\n')
S("ms_noreply_error_q", b"ms a 1 q\r\nxyz\r\nmn\r\n",
  expect=b'CLIENT_ERROR bad data chunk\r\nERROR\r\nMN\r\nMN\r\n')
S("ms_ttl_negative", b"ms a 1 T-1\r\nx\r\nmg a v\r\n",
  expect=b'HD\r\nEN\r\nMN\r\n')
S("ms_flags_bad", b"ms a 1 Fabc\r\nx\r\nmg a v\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nEN\r\nMN\r\n')
S("ms_flags_overflow", b"ms a 1 F4294967296\r\nx\r\nmg a f\r\n",
  expect=b'HD\r\nHD f0\r\nMN\r\n')
S("ms_ttl_bad", b"ms a 1 Tabc\r\nx\r\nmg a v\r\n",
  expect=b'CLIENT_ERROR bad token in command line format\r\nEN\r\nMN\r\n')
S("ms_then_classic", b"ms a 2 F3 T0\r\nhi\r\ngets a\r\nappend a 0 0 1\r\n!\r\nmg a v f\r\n",
  expect=b'HD\r\nVALUE a 3 2 <cas1>\r\nhi\r\nEND\r\nSTORED\r\nVA 3 f3\r\nhi!\r\nMN\r\n')
# SURPRISE: "options flags too long" and the data line is not swallowed.
S("ms_too_many_tokens", b"ms a 1 " + b" ".join([b"T1"] * 30) + b"\r\nx\r\n",
  expect=b'CLIENT_ERROR options flags too long\r\nERROR\r\nMN\r\n')
S("ms_length_wraps", b"ms a 4294967297\r\nx\r\nmg a v\r\n",
  expect=b'HD\r\nVA 1\r\nx\r\nMN\r\n')

# === meta: md ===============================================================

S("md_hit_miss", b"set a 0 0 1\r\nx\r\nmd a\r\nmd a\r\nmg a\r\n",
  expect=b'STORED\r\nHD\r\nNF\r\nEN\r\nMN\r\n')
# SURPRISE: q hides HD for md but NF is still sent.
S("md_quiet", b"set a 0 0 1\r\nx\r\nmd a q\r\nmd a q\r\nmn\r\n",
  expect=b'STORED\r\nNF\r\nMN\r\nMN\r\n')
S("md_return_flags", b"set a 0 0 1\r\nx\r\nmd a k O5\r\nmd a k O6\r\n",
  expect=b'STORED\r\nHD ka O5\r\nNF ka O6\r\nMN\r\n')
S("md_compare_cas", b"ms a 1 c\r\nx\r\nmd a C" + BAD_CAS + b"\r\n",
  with_cas(b"md a C%CAS\r\nmg a\r\n"),
  expect=b'HD c<cas1>\r\nEX\r\nMN\r\nHD\r\nEN\r\nMN\r\n')
# SURPRISE: the first mg after md I says "X W", later ones "Z X" (order!).
S("md_invalidate", b"set a 0 0 1\r\nx\r\nmd a I T30\r\nmg a v c t\r\nmg a v c t\r\nmg a v\r\n",
  expect=b'STORED\r\nHD\r\nVA 1 c<cas1> t30~ X W\r\nx\r\nVA 1 c<cas1> t30~ Z X\r\nx\r\nVA 1 Z X\r\nx\r\nMN\r\n')
S("md_invalidate_then_set", b"set a 0 0 1\r\nx\r\nmd a I\r\nmg a v\r\nms a 1\r\ny\r\nmg a v\r\n",
  expect=b'STORED\r\nHD\r\nVA 1 X W\r\nx\r\nHD\r\nVA 1\r\ny\r\nMN\r\n')
S("md_invalidate_miss", b"md a I\r\n",
  expect=b'NF\r\nMN\r\n')
# SURPRISE: 1.6.18 has no md x flag.
S("md_x_flag_invalid", b"set a 5 0 3\r\nabc\r\nmd a x\r\nmg a v f s\r\n",
  expect=b'STORED\r\nCLIENT_ERROR invalid or duplicate flag\r\nVA 3 f5 s3\r\nabc\r\nMN\r\n')
S("md_E_flag", b"set a 0 0 1\r\nx\r\nmd a I E777\r\nmg a c\r\nmd a E5\r\nmg a\r\n", keep=[777],
  expect=b'STORED\r\nCLIENT_ERROR invalid or duplicate flag\r\nHD c<cas1>\r\n'
         b'CLIENT_ERROR invalid or duplicate flag\r\nHD\r\nMN\r\n',
  ext_expect=b'STORED\r\nHD\r\nHD c777 X W\r\nHD\r\nEN\r\nMN\r\n')
S("md_base64", b"set foo 0 0 1\r\nx\r\nmd " + b64(b"foo") + b" b k\r\nmg foo\r\n",
  expect=b'STORED\r\nHD kZm9v b\r\nEN\r\nMN\r\n')
S("md_key_251", b"md " + K251 + b"\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nMN\r\n')
S("md_bad_flag", b"set a 0 0 1\r\nx\r\nmd a !\r\nmg a\r\n",
  expect=b'STORED\r\nCLIENT_ERROR invalid or duplicate flag\r\nHD\r\nMN\r\n')
S("md_no_key", b"md\r\n",
  expect=b'ERROR\r\nMN\r\n')
S("md_invalidate_then_add", b"set a 0 0 1\r\nx\r\nmd a I T30\r\nms a 1 ME\r\ny\r\nmg a v\r\n",
  expect=b'STORED\r\nHD\r\nNS\r\nVA 1 X W\r\nx\r\nMN\r\n')

# === meta: ma ===============================================================

S("ma_miss", b"ma a\r\nma a v\r\n",
  expect=b'NF\r\nNF\r\nMN\r\n')
S("ma_basic", b"set a 0 0 1\r\n5\r\nma a\r\nmg a v\r\nma a v\r\n",
  expect=b'STORED\r\nHD\r\nVA 1\r\n6\r\nVA 1\r\n7\r\nMN\r\n')
S("ma_delta", b"set a 0 0 2\r\n10\r\nma a D5 v\r\nma a MD D3 v\r\nma a M- v\r\nma a M+ v\r\nma a MI v\r\nma a Md v\r\n",
  expect=b'STORED\r\nVA 2\r\n15\r\nVA 2\r\n12\r\nVA 2\r\n11\r\nVA 2\r\n12\r\nVA 2\r\n13\r\nCLIENT_ERROR invalid mode for ma M token\r\nMN\r\n')
S("ma_mode_invalid", b"set a 0 0 1\r\n1\r\nma a MX v\r\nma a M v\r\n",
  expect=b'STORED\r\nCLIENT_ERROR invalid mode for ma M token\r\nCLIENT_ERROR invalid or duplicate flag\r\nMN\r\n')
S("ma_decr_below_zero", b"set a 0 0 1\r\n3\r\nma a MD D10 v\r\n",
  expect=b'STORED\r\nVA 1\r\n0\r\nMN\r\n')
S("ma_wrap", b"set a 0 0 20\r\n" + MAX64 + b"\r\nma a v\r\nmg a v s\r\n",
  expect=b'STORED\r\nVA 1\r\n0\r\nVA 20 s20\r\n0                   \r\nMN\r\n')
S("ma_shrinks_value", b"set a 0 0 3\r\n100\r\nma a MD v\r\nmg a v s\r\n",
  expect=b'STORED\r\nVA 2\r\n99\r\nVA 3 s3\r\n99 \r\nMN\r\n')
# N creates the item with J (default 0) and returns it unchanged.
S("ma_vivify", b"ma a N0 v\r\nma b N995 J42 v t\r\nma b N995 J42 v\r\nmg a v t\r\n",
  expect=b'VA 1\r\n0\r\nVA 2 t1000~\r\n42\r\nVA 2\r\n43\r\nVA 1 t-1\r\n0\r\nMN\r\n')
S("ma_vivify_initial_no_N", b"ma a J42 v\r\n",
  expect=b'NF\r\nMN\r\n')
S("ma_non_numeric", b"set a 0 0 2\r\nab\r\nma a v\r\n",
  expect=b'STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nMN\r\n')
S("ma_bad_delta", b"set a 0 0 1\r\n1\r\nma a Dabc v\r\nma a D-1 v\r\n",
  expect=b'STORED\r\nCLIENT_ERROR invalid or duplicate flag\r\nCLIENT_ERROR invalid or duplicate flag\r\nMN\r\n')
S("ma_bad_initial", b"ma a N0 Jabc v\r\n",
  expect=b'CLIENT_ERROR invalid or duplicate flag\r\nMN\r\n')
# SURPRISE: ma q hides a success entirely, even the VA value; NF is sent.
S("ma_quiet", b"set a 0 0 1\r\n1\r\nma a q\r\nma b q\r\nma a q v\r\nmn\r\n",
  expect=b'STORED\r\nNF\r\nMN\r\nMN\r\n')
S("ma_return_flags", b"set a 0 995 1\r\n1\r\nma a t c k O3 v\r\nma a T0 t v\r\n",
  expect=b'STORED\r\nVA 1 t1000~ c<cas1> ka O3\r\n2\r\nVA 1 t-1\r\n3\r\nMN\r\n')
S("ma_compare_cas", b"ma a N0 c\r\n",
  with_cas(b"ma a C%CAS c v\r\nma a C%CAS v\r\n"),
  expect=b'HD c<cas1>\r\nMN\r\nVA 1 c<cas2>\r\n1\r\nEX\r\nMN\r\n')
S("ma_E_flag", b"ma a N0 E777 c\r\nma a c v\r\nma a E888 c v\r\n", keep=[777, 888],
  expect=b'CLIENT_ERROR invalid or duplicate flag\r\nNF\r\n'
         b'CLIENT_ERROR invalid or duplicate flag\r\nMN\r\n',
  ext_expect=b'HD c777\r\nVA 1 c<cas1>\r\n1\r\nVA 1 c888\r\n2\r\nMN\r\n')
S("ma_base64", b"set foo 0 0 1\r\n1\r\nma " + b64(b"foo") + b" b v k\r\n",
  expect=b'STORED\r\nVA 1 kZm9v b\r\n2\r\nMN\r\n')
S("ma_key_251", b"ma " + K251 + b"\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nMN\r\n')
S("ma_no_key", b"ma\r\n",
  expect=b'ERROR\r\nMN\r\n')
S("ma_on_incr_value", b"set a 0 0 1\r\n9\r\nincr a 1\r\nma a v\r\ndecr a 1\r\nget a\r\n",
  expect=b'STORED\r\n10\r\nVA 2\r\n11\r\n10\r\nVALUE a 0 2\r\n10\r\nEND\r\nMN\r\n')

# === meta: me ===============================================================

S("me_hit", b"set a 0 0 1\r\nx\r\nme a\r\n",
  expect=b'STORED\r\nME a exp=-1 la=<small> cas=<cas1> fetch=no cls=<cls> size=<size>\r\nMN\r\n')
# SURPRISE: me prints the remaining ttl negated (ttl 995 -> exp=-995).
S("me_after_fetch", b"set a 0 995 1\r\nx\r\nget a\r\nme a\r\n",
  expect=b'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nME a exp=-1000~ la=<small> cas=<cas1> fetch=yes cls=<cls> size=<size>\r\nMN\r\n')
S("me_miss", b"me a\r\n",
  expect=b'EN\r\nMN\r\n')
S("me_base64", b"set foo 0 0 1\r\nx\r\nme " + b64(b"foo") + b" b\r\n",
  expect=b'STORED\r\nME foo exp=-1 la=<small> cas=<cas1> fetch=no cls=<cls> size=<size>\r\nMN\r\n')
S("me_no_key", b"me\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nMN\r\n')
S("me_key_251", b"me " + K251 + b"\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nMN\r\n')

# === meta: misc =============================================================

S("meta_unknown_command", b"mz a\r\nmgg a\r\nm\r\n",
  expect=b'ERROR\r\nERROR\r\nERROR\r\nMN\r\n')
S("meta_uppercase", b"MG a v\r\n",
  expect=b'ERROR\r\nMN\r\n')
S("meta_pipeline", b"ms a 1 T0\r\n1\r\nms b 1 T0\r\n2\r\nmg a v k q\r\nmg zz v k q\r\nma a v\r\nmd b q\r\nmg b v\r\nmn\r\nmg a v\r\n",
  expect=b'HD\r\nHD\r\nVA 1 ka\r\n1\r\nVA 1\r\n2\r\nEN\r\nMN\r\nVA 1\r\n2\r\nMN\r\n')
S("meta_and_classic_interleaved", b"ms a 2\r\n10\r\nincr a 5\r\nmg a v\r\ngets a\r\nmd a\r\nget a\r\n",
  expect=b'HD\r\n15\r\nVA 2\r\n15\r\nVALUE a 0 2 <cas1>\r\n15\r\nEND\r\nHD\r\nEND\r\nMN\r\n')
S("meta_lf_only", b"ms a 1\nx\r\nmg a v\n",
  expect=b'HD\r\nVA 1\r\nx\r\nMN\r\n')
S("meta_trailing_space", b"ms a 1 \r\nx\r\nmg a v \r\n",
  expect=b'HD\r\nVA 1\r\nx\r\nMN\r\n')
S("meta_many_spaces", b"ms  a  1  T0\r\nx\r\nmg   a   v\r\n",
  expect=b'HD\r\nVA 1\r\nx\r\nMN\r\n')

# === long lines =============================================================
# memcached closes a connection holding more than 2048 bytes without a
# newline, unless the line is a get/gets (multigets may be long).

S("line_2048_then_newline", b"x" * 2048, b"\r\nversion\r\n",
  expect=b'ERROR\r\nVERSION <version>\r\nMN\r\n')
S("line_2049_closes", b"x" * 2049, eof=True,
  expect=b'<CLOSED>')
S("line_long_with_newline", b"foo" + b"x" * 5000 + b"\r\nversion\r\n",
  expect=b'ERROR\r\nVERSION <version>\r\nMN\r\n')
S("line_long_spaces_with_newline", b"foo" + b" " * 5000 + b"\r\nversion\r\n",
  expect=b'ERROR\r\nVERSION <version>\r\nMN\r\n')
S("set_line_long_key_closes", b"set " + b"a" * 2100 + b" 0 0 1", eof=True,
  expect=b'<CLOSED>')
S("get_long_line_ok", b"set k1 0 0 1\r\nx\r\n", b"get " + b"k2 " * 1000, b"k1\r\nversion\r\n",
  expect=b'STORED\r\nVALUE k1 0 1\r\nx\r\nEND\r\nVERSION <version>\r\nMN\r\n')
S("gets_long_line_ok", b"gets " + b"k2 " * 1000, b"\r\nversion\r\n",
  expect=b'END\r\nVERSION <version>\r\nMN\r\n')
S("get_long_line_leading_spaces", b" " * 50 + b"get " + b"k1 " * 1000, b"\r\nversion\r\n",
  expect=b'END\r\nVERSION <version>\r\nMN\r\n')
S("get_long_line_too_many_spaces", b" " * 101 + b"get " + b"k1 " * 1000, eof=True,
  expect=b'<CLOSED>')
S("get_long_key_long_line", b"get " + b"x" * 5000, b"\r\nversion\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nVERSION <version>\r\nMN\r\n')
# SURPRISE: gat is not exempt from the 2048-byte rule.
S("gat_long_line_closes", b"gat 10 " + b"k1 " * 1000, eof=True,
  expect=b'<CLOSED>')
S("mg_long_line_closes", b"mg k1 " + b"v " * 1100, eof=True,
  expect=b'<CLOSED>')
S("mg_long_flag_token", b"set a 0 0 1\r\nx\r\nmg a " + b"v" * 3000 + b"\r\n",
  expect=b'STORED\r\nVA 1\r\nx\r\nMN\r\n')

# === base64 key length ======================================================
# The 250-byte limit applies to the encoded token: 186 raw bytes encode to
# 248 characters (accepted), 187 to 252 (refused).

S("meta_base64_key_186_ok", b"ms " + b64(b"q" * 186) + b" 1 b\r\nx\r\nmg " + b"q" * 186 + b" v\r\n",
  expect=b'HD\r\nVA 1\r\nx\r\nMN\r\n')
S("meta_base64_key_187_refused", b"ms " + b64(b"r" * 187) + b" 1 b\r\nx\r\nmg " + b64(b"r" * 187) + b" b v\r\n",
  expect=b'CLIENT_ERROR bad command line format\r\nERROR\r\nCLIENT_ERROR bad command line format\r\nMN\r\n')

# === values over the item size limit (default -I 1m) ========================
# Refused with SERVER_ERROR; exactly length+2 bytes are swallowed whatever
# they contain. 1048577 is over the limit under memcached's and meshcached's
# rule alike (see test_limits.py for the exact boundary).

OVER = 1024 * 1024 + 1
# SURPRISE: a refused `set` (and `ms`) deletes the key's old value;
# append keeps it.
S("too_large_set_deletes_old", b"set k 0 0 1\r\nx\r\nset k 0 0 %d\r\n" % OVER +
  b"v" * OVER + b"\r\nget k\r\n",
  expect=b"STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\nMN\r\n")
S("too_large_append_keeps_old", b"set k 0 0 1\r\nx\r\nappend k 0 0 %d\r\n" % OVER +
  b"v" * OVER + b"\r\nget k\r\n",
  expect=b"STORED\r\nSERVER_ERROR object too large for cache\r\n"
         b"VALUE k 0 1\r\nx\r\nEND\r\nMN\r\n")
S("too_large_add_keeps_old", b"set k 0 0 1\r\nx\r\nadd k 0 0 %d\r\n" % OVER +
  b"v" * OVER + b"\r\nget k\r\n",
  expect=b'STORED\r\nSERVER_ERROR object too large for cache\r\nVALUE k 0 1\r\nx\r\nEND\r\nMN\r\n')
S("too_large_ms_deletes_old", b"ms k 1\r\nx\r\nms k %d T0\r\n" % OVER +
  b"v" * OVER + b"\r\nmg k v\r\n",
  expect=b"HD\r\nSERVER_ERROR object too large for cache\r\nEN\r\nMN\r\n")
S("too_large_swallow_ignores_terminator", b"set j 0 0 %d\r\n" % OVER +
  b"v" * OVER + b"XYget j\r\n",
  expect=b"SERVER_ERROR object too large for cache\r\nEND\r\nMN\r\n")
S("too_large_split_packets", b"set j 0 0 %d\r\n" % OVER, b"v" * 1000,
  b"v" * (OVER - 1000) + b"\r\nget j\r\n",
  expect=b"SERVER_ERROR object too large for cache\r\nEND\r\nMN\r\n")
S("too_large_noreply", b"set j 0 0 %d noreply\r\n" % OVER + b"v" * OVER + b"\r\nget j\r\n",
  expect=b"END\r\nMN\r\n")
S("too_large_cas", b"cas j 0 0 %d 1\r\n" % OVER + b"v" * OVER + b"\r\nget j\r\n",
  expect=b'SERVER_ERROR object too large for cache\r\nEND\r\nMN\r\n')
S("length_int_max", b"set j 0 0 2147483647\r\nget j\r\n",
  expect=b"CLIENT_ERROR bad command line format\r\nEND\r\nMN\r\n")
S("ms_too_large_q", b"ms j %d q\r\n" % OVER + b"v" * OVER + b"\r\nmn\r\n",
  expect=b'SERVER_ERROR object too large for cache\r\nMN\r\nMN\r\n')

# === ASCII authentication (-Y) ==============================================
# Before a client authenticates every line is answered CLIENT_ERROR
# unauthenticated (quit and mn included), except `set <any> <any> <any> <n>`
# whose data block "<user> <pass>" is checked against the -Y file. Each
# scenario ends with a good attempt so that the runner's `mn` is answered.
# memcached 1.6.18 writes only the last of several pre-authentication
# replies it produces from one read (they share one response object), so
# every step here holds one command and waits for its reply (COMPAT_NOTES).

AUTH_FILE = "/tmp/meshcached-compat-auth-%d.txt" % os.getpid()
with open(AUTH_FILE, "w") as f:
    f.write("alice:secret\nbob:pw2\n")
os.chmod(AUTH_FILE, 0o644)
atexit.register(os.unlink, AUTH_FILE)
AUTH_OK = b"set k 0 0 12\r\nalice secret\r\n"
UNAUTH = b"CLIENT_ERROR unauthenticated\r\n"


def A(name, *steps, expect, **kw):
    """An -Y scenario: a pause after each step (one reply per read)."""
    paced = []
    for st in steps + (AUTH_OK,):
        paced += [st, Sleep(0.05)]
    S(name, *paced, args=["-Y", AUTH_FILE], expect=expect, **kw)


A("auth_commands_refused", b"get foo\r\n", b"version\r\n", b"mg foo v\r\n", b"quit\r\n",
  b"peer n1 16\r\n", b"\r\n", b"GET / HTTP/1.1\r\n",
  expect=UNAUTH * 7 + b"STORED\r\nMN\r\n")
A("auth_other_storage_refused", b"add k 0 0 12\r\n", b"alice secret\r\n",
  b"ms k 12\r\n", expect=UNAUTH * 3 + b"STORED\r\nMN\r\n")
A("auth_bad_size_refused", b"set k 0 0 x\r\n", b"set k 0 0\r\n", b"set k 0 0 -1\r\n",
  expect=UNAUTH * 3 + b"STORED\r\nMN\r\n")
A("auth_bad_token_format", b"set k 0 0 5\r\nhello\r\n", b"set k 0 0 7\r\nbob:pw2\r\n",
  expect=b"CLIENT_ERROR bad authentication token format\r\n" * 2 + b"STORED\r\nMN\r\n")
A("auth_wrong_pair", b"set k 0 0 9\r\nalice bad\r\n", b"set k 0 0 10\r\nbob secret\r\n",
  b"set k 0 0 14\r\nalice secret\r\n\r\n",
  expect=b"CLIENT_ERROR authentication failure\r\n" * 3 + b"STORED\r\nMN\r\n")
A("auth_bad_termination", b"set k 0 0 3\r\n", b"aliXY",
  expect=b"CLIENT_ERROR bad command line termination\r\nSTORED\r\nMN\r\n")
# SURPRISE: noreply is ignored, extra spaces and words in the block too.
A("auth_noreply_still_answers", b"set k 0 0 7 noreply\r\nbob pw2\r\n",
  expect=b"STORED\r\nSTORED\r\nMN\r\n")
A("auth_spaces_and_extra_words", b"set k 0 0 16\r\n  bob  pw2 extra\r\n",
  expect=b"STORED\r\nSTORED\r\nMN\r\n")
A("auth_split_block", b"set k 0 0 12\r\n", b"alice ", b"secret\r\n",
  b"set j 0 0 1\r\nx\r\n", b"get j k\r\n",
  expect=b"STORED\r\nSTORED\r\nVALUE j 0 1\r\nx\r\nEND\r\nSTORED\r\nMN\r\n")
S("auth_long_junk_closes", b"x" * 3000, args=["-Y", AUTH_FILE], eof=True,
  expect=b"<CLOSED>")
