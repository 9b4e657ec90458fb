/* chatdata.h - chat fine-tuning JSONL ({"messages":[system?, user, assistant]} per line) read
 * as (text, label) pairs for a label task, and the checks that the outputs form a label set. */
#ifndef OFFRAMP_CHATDATA_H
#define OFFRAMP_CHATDATA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Thresholds past which assistant messages are free text, not labels. */
#define CHATDATA_MAX_LABELS 200
#define CHATDATA_MAX_DISTINCT_SHARE 0.5
#define CHATDATA_MAX_LABEL_AVG 64.0

typedef struct {
   char **texts;     /* the user messages of each example, joined by newlines */
   char **labels;    /* the assistant message */
   size_t n;
   long long tokens; /* estimated tokens of all messages of all examples */
} ChatData;

/* The model input of a messages array: the content of its user messages joined by "\n"
 * (string content, or the text parts of array content). NULL when there is no user text.
 * Training and serving both call this, so features match. Caller frees. */
char *ChatData_text(const json_t *messages);

/* Rough token count of a text (4 bytes a token, at least 1 for non-empty text). */
long long ChatData_tokens(const char *s);

/* Reads JSONL from memory; every non-blank line must be an object whose "messages" is
 * [system?, user, assistant] with string contents. Fails on the first bad line, naming it, and
 * on an empty file. */
bool ChatData_parse(const char *buf, size_t len, ChatData *d, char **err);

/* Refuses outputs that are not a label set: more than CHATDATA_MAX_LABELS distinct, more than
 * CHATDATA_MAX_DISTINCT_SHARE of the rows distinct, a mean length over CHATDATA_MAX_LABEL_AVG
 * bytes, or fewer than two labels. */
bool ChatData_check_labels(const ChatData *d, char **err);

void ChatData_free(ChatData *d);

#endif
