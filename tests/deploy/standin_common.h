/* standin_common.h - what the model-server stand-ins (vLLM, Ollama, llama.cpp server) share:
 * a libevent server on 127.0.0.1 with a port file and a bounded lifetime, SIGHUP as "the server
 * restarted" (each drops what it loaded at run time), replies, and chat completions that give
 * a test set's logged answers when the adapter is applied and a base model's chatter when not. */
#ifndef STANDIN_COMMON_H
#define STANDIN_COMMON_H

#include <event2/http.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct evhttp_request Req;

typedef struct {
   const char *name;                          /* for messages: "standin_vllm" */
   const char *usage;                         /* the stand-in's own options */
   /* An option of the stand-in's own (argv[i], the next argument or NULL): the arguments it
    * takes (1 or 2), 0 when it is not one of its. */
   int (*option)(const char *opt, const char *value);
   void (*handle)(Req *req, const char *path); /* every request */
   void (*restart)(void);                     /* SIGHUP */
} Standin;

int Standin_main(const Standin *s, int argc, char **argv);

/* The request's body (NUL-terminated, *len without it); caller frees. */
char *Standin_body(Req *req, size_t *len);
const char *Standin_header(Req *req, const char *name);
bool Standin_method(Req *req, const char *method);
void Standin_reply(Req *req, int status, const char *ctype, const char *body, size_t len);
/* Replies with v as JSON (steals it). */
void Standin_json(Req *req, int status, json_t *v);
/* A chat completion for the request's model: the logged answer of its last user message when
 * adapter_on, else a base model's reply. body is the parsed request. */
void Standin_chat(Req *req, json_t *body, bool adapter_on);

#endif
