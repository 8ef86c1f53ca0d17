/* Finding one top-level string member of a JSON object without Lua, so a token in a
 * response never becomes a Lua string (session.c's `capture` request field). */
#ifndef FLOWSERVICE_CAPTURE_H
#define FLOWSERVICE_CAPTURE_H

#include <stddef.h>

/* When text[0..len) is one JSON object whose top level has exactly one member called
 * name (compared after unescaping) with a string value, sets *start and *end to that
 * value's bytes in text, quotes included (end exclusive), and returns 1. Returns 0 for
 * anything else: not an object, malformed top level, member missing, repeated or not a
 * string. Nested values are skipped (brackets matched, strings checked), not validated. */
int fs_json_find_member(const char *text, size_t len, const char *name, size_t name_len,
                        size_t *start, size_t *end);

/* Unescapes the JSON string text[start..end) (quotes included, as found above) into dst,
 * which needs end - start bytes; returns the number of bytes written. */
size_t fs_json_unescape(const char *text, size_t start, size_t end, char *dst);

#endif
