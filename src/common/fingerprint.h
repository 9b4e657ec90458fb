/* fingerprint.h - prompt-template fingerprints: which touchpoint a logged chat request belongs to. */
#ifndef OFFRAMP_FINGERPRINT_H
#define OFFRAMP_FINGERPRINT_H

#include <stdbool.h>

#include <jansson.h>

/* Length of a fingerprint id without its NUL: 16 lowercase hex digits. */
#define FINGERPRINT_LEN 16

/*
 * A fingerprint identifies the prompt *template*, not the call: the system prompt with its
 * variable bits masked (numbers, ids, emails, urls, quoted spans, names, "Key: value" lines,
 * "Label:\n<block>" blocks) plus the fixed instruction that leads the first user message.
 * The variable tail of the user message never counts, and neither does the number of chat turns,
 * so every turn of one chat feature gets the same id. See fingerprint.c for the exact rules.
 *
 * messages: a request's "messages" array. Content may be a string, null or an array of content
 * parts ({"type":"text","text":...}; other parts count as "<type>"). Roles "system" and
 * "developer" make up the system prompt; the first "user" message supplies the instruction.
 * Writes the id into out (NUL-terminated) and, if skeleton != NULL, a malloc'd one-line
 * human-readable template such as "sys: You are a tone analyzer... | user: <text>".
 * Returns false (and still writes the id of the empty template) when messages is not a
 * non-empty array or carries no text at all.
 */
bool Fingerprint_messages(const json_t *messages, char out[FINGERPRINT_LEN + 1], char **skeleton);

/* What a caller that fingerprints many requests keeps between them: the canonical texts of
 * the system prompts it saw last (a few KB each, 32 of them), so a touchpoint's system prompt
 * is tokenized once, not per call. Results are the same with it or without. One thread at a
 * time. */
typedef struct FingerprintMemo FingerprintMemo;
FingerprintMemo *Fingerprint_memo_new(void);
void Fingerprint_memo_free(FingerprintMemo *m);
void Fingerprint_memo_counts(const FingerprintMemo *m, long *hits, long *misses);

/* Fingerprint_messages from the JSON text val[0..len) of a messages array, without a tree:
 * 1 or 0 as Fingerprint_messages returns true or false, with the same id; -1 (nothing
 * written) when the text is not a valid array, has over 64 messages, or holds what the
 * scanner leaves to jansson (content-part arrays, escaped keys, a NUL in a string). memo
 * may be NULL. */
int Fingerprint_messages_text(const char *val, size_t len, FingerprintMemo *memo, char out[FINGERPRINT_LEN + 1]);

/* Same from plain strings; either may be NULL (absent). */
void Fingerprint_text(const char *system, const char *user, char out[FINGERPRINT_LEN + 1],
                      char **skeleton);

#endif
