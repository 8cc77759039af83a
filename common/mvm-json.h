/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

/* JSON from peers microvmd does not trust (a hypervisor, a definition file) is checked
 * for its nesting before json-glib, which recurses once per level, parses it. */
#define MVM_JSON_MAX_DEPTH 64

/* Whether no array or object in the text is nested deeper than max_depth (brackets
 * inside strings do not count). Says nothing about whether it is valid JSON. */
bool mvm_json_depth_ok(const char *text, size_t size, unsigned max_depth);

/* Whether every integer literal in the text (a number without fraction or exponent,
 * outside strings) fits in a gint64. json-glib's own handling of overflowing integers
 * differs between releases (1.10 saturates them to G_MAXINT64 and accepts the text),
 * so code that must refuse them looks at the raw tokens. */
bool mvm_json_integers_fit(const char *text, size_t size);

/* Replaces control characters (newlines included) with spaces, so that a peer's text
 * stays one line in the log. */
void mvm_text_sanitize(char *text);
