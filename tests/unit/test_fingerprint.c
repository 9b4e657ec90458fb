/* test_fingerprint.c - six realistic prompt templates, many natural fills each: grouping by
 * fingerprint must give back exactly the templates; plus edge cases of the message shapes. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/fingerprint.h"
#include "common/util.h"
#include "tap.h"

#define FILLS 40

static uint64_t rng_state = 0x5eed2026ULL;

static uint64_t rnd(void) {
   uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
   z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
   z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
   return z ^ (z >> 31);
}

static int below(int n) {
   return (int)(rnd() % (uint64_t)n);
}

#define PICK(list) (list[below((int)ARRAY_SIZE(list))])

static const char *first_names[] = { "Maria", "John", "Aisha", "Wei", "Lukas", "Sofia", "Tom", "Priya",
                                     "Oluwaseun", "Jean-Luc", "Anna", "Diego" };
static const char *last_names[] = { "Smith", "Garcia", "Nguyen", "Müller", "O'Brien", "Kowalski", "Okafor",
                                    "van Dijk", "Rossi", "Tanaka" };
static const char *companies[] = { "Acme", "Northwind Traders", "Bank of Oslo", "Globex Corporation",
                                   "Initech", "Umbrella Health", "Stark & Wayne", "Brightcart" };
static const char *products[] = { "wireless headphones", "standing desk", "coffee grinder", "yoga mat",
                                  "4K monitor", "air fryer", "kids' bike", "linen duvet cover" };
static const char *weekdays[] = { "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday" };
static const char *months[] = { "January", "March", "May", "July", "September", "November" };

static char *email_of(const char *first, const char *last) {
   static const char *domains[] = { "gmail.com", "example.org", "outlook.com", "company.co.uk" };
   char *e = xasprintf("%c%s%d@%s", first[0] | 0x20, last, below(100), PICK(domains));
   for (char *p = e; *p; p++) {
      if (*p == ' ' || *p == '\'')
         *p = '.';
      else if (*p >= 'A' && *p <= 'Z')
         *p = (char)(*p - 'A' + 'a');
   }
   return e;
}

static char *order_id(void) {
   switch (below(4)) {
   case 0:
      return xasprintf("ORD-%05d", below(100000));
   case 1:
      return xasprintf("#%d", 100000 + below(900000));
   case 2:
      return xasprintf("%08llx-%04x", (unsigned long long)(rnd() & 0xffffffffULL), below(0x10000));
   default:
      return xasprintf("A%dB%d", below(1000), below(100));
   }
}

/* A customer's free-text ticket: one to three paragraphs, ids, amounts, quotes, sign-off. */
static char *ticket_text(void) {
   static const char *openers[] = { "Hi,", "Hello team,", "Hey", "Good morning,", "", "To whom it may concern,",
                                    "Hi there!" };
   static const char *bodies[] = {
      "I was charged $%d.%02d twice for order %s and I'd like the duplicate reversed.",
      "My package for order %s still hasn't arrived after %d days. The tracking page says \"in transit\".",
      "I can't log in anymore: the app says 'invalid token' every time (%d attempts so far). Order ref %s.",
      "Please cancel my subscription before the next renewal on the %dth. My last order was %s.",
      "The %s I received is broken: the left side doesn't work. Order %s, paid %d euros.",
      "Could you add dark mode to the dashboard? I use it %d hours a day, see ticket %s.",
      "where is my refund??? order %s, you promised %d business days",
   };
   static const char *closers[] = { "Thanks,", "Best regards,", "Cheers,", "Thank you in advance.", "", "Regards," };
   const char *first = PICK(first_names), *last = PICK(last_names);
   char *oid = order_id(), *email = email_of(first, last), *body;
   int b = below((int)ARRAY_SIZE(bodies));
   switch (b) {
   case 0:
      body = xasprintf(bodies[b], 5 + below(300), below(100), oid);
      break;
   case 1:
      body = xasprintf(bodies[b], oid, 3 + below(30));
      break;
   case 2:
      body = xasprintf(bodies[b], 2 + below(9), oid);
      break;
   case 3:
      body = xasprintf(bodies[b], 1 + below(28), oid);
      break;
   case 4:
      body = xasprintf(bodies[b], PICK(products), oid, 20 + below(400));
      break;
   case 5:
      body = xasprintf(bodies[b], 1 + below(12), oid);
      break;
   default:
      body = xasprintf(bodies[b], oid, 3 + below(10));
   }
   const char *op = PICK(openers), *cl = PICK(closers);
   char *t;
   switch (below(4)) {
   case 0:
      t = xasprintf("%s\n\n%s\n\n%s\n%s %s", op, body, cl, first, last);
      break;
   case 1:
      t = xasprintf("%s %s You can reach me at %s.", op, body, email);
      break;
   case 2:
      t = xasprintf("Subject: urgent - %s\n%s\n%s\n-- \n%s", PICK(products), body, cl, first);
      break;
   default:
      t = xasprintf("%s", body);
   }
   free(oid);
   free(email);
   free(body);
   return t;
}

static char *chat_message(void) {
   static const char *msgs[] = {
      "hi",
      "Hello, I need help with my account",
      "Can you tell me why my card ending in %d was declined?",
      "Please check my order status: %s",
      "I moved to a new address:\n\n12 Elm Street, Springfield\n\nCan you update it?",
      "What's the fee for an international transfer of %d USD?",
      "My daughter \"borrowed\" my card and spent $%d. What can I do?",
      "ok thanks. one more thing - how do I close a savings account opened in %d?",
      "Explain why I was charged %d dollars",
      "Check my balance please",
      "The app shows error %d when I open 'Payments'. Screenshot: https://imgur.com/a/x%dq",
      "Thank you so much!! You've been really helpful today.",
   };
   const char *m = PICK(msgs);
   char *oid = order_id();
   char *r = strstr(m, "%s") ? xasprintf(m, oid) : xasprintf(m, 100 + below(9000), below(50));
   free(oid);
   return r;
}

static const char *assistant_replies[] = {
   "Of course! Could you share the last four digits of the card?",
   "I understand how frustrating that is. Let me look into it for you.",
   "Done - your address has been updated. Anything else?",
   "Transfers above 1,000 USD cost 0.5 %, with a minimum fee of $4.",
   "I've opened a dispute for you (case CS-20931). You'll hear from us within 5 business days.",
};

/* One conversation for the summary template. */
static char *conversation(void) {
   Sbuf sb = { 0 };
   int turns = 2 + below(8);
   for (int i = 0; i < turns; i++) {
      char *m = chat_message();
      Sbuf_printf(&sb, "%s: %s\n", i % 2 ? "Agent" : PICK(first_names), i % 2 ? PICK(assistant_replies) : m);
      free(m);
   }
   return Sbuf_steal(&sb);
}

static char *data_table(void) {
   Sbuf sb = { 0 };
   Sbuf_puts(&sb, "| metric | Q1 | Q2 | Q3 |\n|---|---|---|---|\n");
   static const char *metrics[] = { "cash ratio", "current ratio", "net debt / EBITDA", "DSO (days)",
                                    "NPL share", "FX exposure", "interest coverage" };
   int rows = 3 + below(5);
   for (int i = 0; i < rows; i++)
      Sbuf_printf(&sb, "| %s | %d.%d | %d.%d | %d.%02d |\n", PICK(metrics), below(30), below(10), below(30),
                  below(10), below(30), below(100));
   if (below(2))
      Sbuf_printf(&sb, "\nNotes: the %s segment was sold in %s; figures restated.\n", PICK(products), PICK(months));
   return Sbuf_steal(&sb);
}

static json_t *msg(const char *role, const char *content) {
   return json_pack("{s:s, s:s}", "role", role, "content", content);
}

enum { T_CLASSIFY, T_TONE, T_SUMMARY, T_EXTRACT, T_CHAT, T_REPORT, NTEMPLATES };
static const char *template_names[] = { "ticket classification", "tone analysis", "summary generation",
                                        "field extraction", "multi-turn chat", "quarterly report" };

/* Builds the messages of one call of template k with fresh fills. */
static json_t *make_call(int k) {
   json_t *m = json_array();
   char *a = NULL, *b = NULL, *c = NULL;
   switch (k) {
   case T_CLASSIFY:
      a = ticket_text();
      b = xasprintf("Classify the following support ticket into one of: billing, refund, shipping, "
                    "account_access, bug_report, other.\nReply with the category only.\n\nTicket: %s", a);
      json_array_append_new(m, msg("user", b));
      break;
   case T_TONE:
      a = below(2) ? ticket_text() : chat_message();
      json_array_append_new(m, msg("system", "You are a tone analyzer for customer messages. Reply with exactly "
                                             "one word: positive, neutral, negative or frustrated."));
      json_array_append_new(m, msg("user", a));
      break;
   case T_SUMMARY:
      a = conversation();
      b = xasprintf("Summarise this conversation in %d bullet points:\n%s", 2 + below(4), a);
      json_array_append_new(m, msg("system", "You are a helpful assistant."));
      json_array_append_new(m, msg("user", b));
      break;
   case T_EXTRACT:
      a = ticket_text();
      b = xasprintf("Extract the customer's name, email and order id from the message below and return JSON "
                    "with the keys \"name\", \"email\", \"order_id\".\n\nMessage:\n%s", a);
      json_array_append_new(m, msg("user", b));
      break;
   case T_CHAT: {
      const char *first = PICK(first_names), *last = PICK(last_names);
      static const char *tiers[] = { "gold", "silver", "basic" };
      a = xasprintf("You are Ava, the virtual assistant of %s. Be friendly and concise, and never promise a "
                    "refund you cannot issue.\n\nCustomer: %s %s (%s tier, customer since %d)\n"
                    "Today is %s, %s %d, %d.",
                    PICK(companies), first, last, PICK(tiers), 2005 + below(20), PICK(weekdays), PICK(months),
                    1 + below(28), 2025 + below(2));
      json_array_append_new(m, msg("system", a));
      int turns = 1 + below(5);
      for (int i = 0; i < turns; i++) {
         char *u = chat_message();
         json_array_append_new(m, msg("user", u));
         free(u);
         if (i + 1 < turns)
            json_array_append_new(m, msg("assistant", PICK(assistant_replies)));
      }
      break;
   }
   case T_REPORT:
      a = data_table();
      b = xasprintf("Write a quarterly risk report for %s based on the data below. Cover liquidity, credit exposure "
                    "and market outlook, and end with %d recommendations.\n\nData:\n%s",
                    PICK(companies), 2 + below(3), a);
      json_array_append_new(m, msg("system", "You are a senior financial analyst. You write clear, well-structured "
                                             "reports for the board."));
      json_array_append_new(m, msg("user", b));
      break;
   }
   free(a);
   free(b);
   free(c);
   return m;
}

/* The scanner's path (the capture writer's) gives the tree's id, or declines (-1): true when
 * it agrees. */
/* One memo for every call the tests make, as the capture writer keeps one for its life: the
 * ids must not depend on what it holds (hits, misses, evictions). */
static FingerprintMemo *memo;

static bool text_agrees(const json_t *m, bool *declined) {
   char a[FINGERPRINT_LEN + 1], b[FINGERPRINT_LEN + 1], c[FINGERPRINT_LEN + 1];
   char *text = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
   bool want = Fingerprint_messages(m, a, NULL);
   int got = Fingerprint_messages_text(text, strlen(text), NULL, b);
   int memod = Fingerprint_messages_text(text, strlen(text), memo, c);
   free(text);
   *declined = got < 0;
   if (memod != got || (got >= 0 && strcmp(b, c) != 0))
      return false;
   return got < 0 || (got == want && strcmp(a, b) == 0);
}

static void test_grouping(void) {
   char ids[NTEMPLATES][FILLS][FINGERPRINT_LEN + 1];
   json_t *calls[NTEMPLATES][FILLS];
   for (int f = 0; f < FILLS; f++)
      for (int k = 0; k < NTEMPLATES; k++) {
         json_t *m = calls[k][f] = make_call(k);
         char *sk = NULL;
         bool okk = Fingerprint_messages(m, ids[k][f], f == 0 ? &sk : NULL);
         if (!okk)
            ok(0, "Fingerprint_messages accepted call %d of %s", f, template_names[k]);
         if (sk) {
            printf("# %-22s %s  %s\n", template_names[k], ids[k][f], sk);
            free(sk);
         }
      }
   for (int k = 0; k < NTEMPLATES; k++) {
      int same = 0;
      for (int f = 0; f < FILLS; f++)
         same += strcmp(ids[k][f], ids[k][0]) == 0;
      is_int(same, FILLS, template_names[k]);
      for (int f = 0; f < FILLS && same != FILLS; f++)
         if (strcmp(ids[k][f], ids[k][0]) != 0) {
            char *dump = json_dumps(calls[k][f], JSON_COMPACT | JSON_ENSURE_ASCII);
            printf("#   first odd id %s at fill %d: %s\n", ids[k][f], f, dump);
            free(dump);
            break;
         }
   }
   int agree = 0, declined = 0;
   for (int k = 0; k < NTEMPLATES; k++)
      for (int f = 0; f < FILLS; f++) {
         bool d;
         agree += text_agrees(calls[k][f], &d);
         declined += d;
      }
   is_int(agree, NTEMPLATES * FILLS, "the scanned text gives the tree's id for every generated call, with the memo and without");
   long hits, misses;
   Fingerprint_memo_counts(memo, &hits, &misses);
   ok(hits > 0 && misses > 32, "the memo was both hit and evicted along the way (%ld hits, %ld misses)", hits, misses);
   is_int(declined, 0, "and reads every one of them itself");
   for (int k = 0; k < NTEMPLATES; k++)
      for (int f = 0; f < FILLS; f++)
         json_decref(calls[k][f]);
   int groups = 0;
   for (int k = 0; k < NTEMPLATES; k++) {
      bool first = true;
      for (int j = 0; j < k; j++)
         if (strcmp(ids[j][0], ids[k][0]) == 0)
            first = false;
      groups += first;
   }
   is_int(groups, NTEMPLATES, "six templates give six distinct fingerprints");
}

static void fp_text(const char *sys, const char *user, char out[FINGERPRINT_LEN + 1]) {
   Fingerprint_text(sys, user, out, NULL);
}

static void test_shapes(void) {
   char a[FINGERPRINT_LEN + 1], b[FINGERPRINT_LEN + 1];
   char *sk = NULL;

   json_t *empty = json_array();
   ok(!Fingerprint_messages(empty, a, &sk), "empty messages array is rejected");
   ok(strlen(a) == FINGERPRINT_LEN && strspn(a, "0123456789abcdef") == FINGERPRINT_LEN, "still writes a hex id (%s)", a);
   ok(sk && *sk, "and a skeleton (%s)", sk ? sk : "(null)");
   free(sk);
   json_decref(empty);
   ok(!Fingerprint_messages(NULL, a, NULL), "NULL messages is rejected");
   json_t *obj = json_object();
   ok(!Fingerprint_messages(obj, a, NULL), "an object instead of an array is rejected");
   json_decref(obj);

   /* content-part arrays read like the plain string */
   const char *instr = "Classify the sentiment of this review as positive or negative.\n\nReview: the blender is loud";
   json_t *plain = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "system", "content", "You grade reviews.",
                             "role", "user", "content", instr);
   json_t *parts = json_pack("[{s:s,s:[{s:s,s:s}]},{s:s,s:[{s:s,s:s},{s:s,s:{s:s}}]}]",
                             "role", "system", "content", "type", "text", "text", "You grade reviews.",
                             "role", "user", "content", "type", "text", "text", instr,
                             "type", "image_url", "image_url", "url", "https://example.com/p.png");
   ok(Fingerprint_messages(plain, a, NULL) && Fingerprint_messages(parts, b, &sk), "content parts accepted");
   is_str(b, a, "content-part arrays fingerprint like strings");
   ok(sk && strstr(sk, "Classify the sentiment"), "skeleton shows the instruction (%s)", sk ? sk : "");
   free(sk);
   bool d;
   ok(text_agrees(plain, &d) && !d, "plain contents: the scanned text gives the same id");
   ok(text_agrees(parts, &d) && d, "content parts: the scanner leaves them to the tree");
   json_decref(plain);
   json_decref(parts);
   /* Escapes, a repeated key (the last counts, as in jansson), non-objects, an empty array. */
   static const char *const texts[] = {
      "[{\"role\":\"system\",\"content\":\"Tu es \\u00e9l\\u00e8ve.\\n\\nSois bref.\"},"
      "{\"role\":\"user\",\"content\":\"Classify: \\\"late\\\" parcel\"}]",
      "[{\"role\":\"user\",\"role\":\"system\",\"content\":\"Rate it.\"},{\"role\":\"user\",\"content\":\"x\"}]",
      "[1,\"s\",null,{\"content\":\"no role\"},{\"role\":7,\"content\":\"x\"},{\"role\":\"user\",\"content\":\"Sum up: a\"}]",
      "[]",
   };
   for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
      json_t *j = json_loads(texts[i], 0, NULL);
      ok(j && text_agrees(j, &d) && !d, "scanned text %zu gives the tree's id", i + 1);
      json_decref(j);
   }
   ok(Fingerprint_messages_text("{\"role\":\"user\"}", 17, NULL, a) < 0, "an object is not a messages array: -1");
   ok(Fingerprint_messages_text("[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]", 38, NULL, a) < 0,
      "a NUL in a string goes to the tree (which refuses it): -1");

   /* non-string contents that carry nothing must not crash or count */
   json_t *odd = json_pack("[{s:s,s:n},{s:s,s:i},{s:s,s:n,s:[{s:s}]},{s:s,s:s},{s:s}]",
                           "role", "system", "content", "role", "developer", "content", 42,
                           "role", "assistant", "content", "tool_calls", "id", "call_1",
                           "role", "user", "content", "Translate to French: good morning",
                           "role", "user");
   ok(Fingerprint_messages(odd, a, NULL), "null/number contents are skipped");
   ok(text_agrees(odd, &d) && !d, "from the scanned text too, with the same id");
   fp_text(NULL, "Translate to French: good evening everyone", b);
   is_str(a, b, "empty system messages count as no system prompt");
   json_decref(odd);

   /* missing system prompt: the user instruction carries the template */
   fp_text(NULL, "Translate to German: I would like a coffee", a);
   fp_text(NULL, "Translate to German: where is the station?\n\nthanks", b);
   is_str(a, b, "no system prompt: same instruction, same id");
   fp_text(NULL, "Correct the grammar: where is the station?", b);
   ok(strcmp(a, b) != 0, "no system prompt: different instruction, different id");
   fp_text(NULL, NULL, a);
   fp_text("", "", b);
   is_str(a, b, "NULL and empty strings are the same empty template");

   /* the same system prompt with different task instructions stays apart */
   fp_text("You are a helpful assistant.", "Summarize the following email in one sentence:\n\nHi Bob, ...", a);
   fp_text("You are a helpful assistant.", "Extract all dates from the following email:\n\nHi Bob, ...", b);
   ok(strcmp(a, b) != 0, "shared generic system prompt, different tasks");
   fp_text(NULL, "Classify the message into one of: positive, negative, neutral.\n\nMessage: meh", a);
   fp_text(NULL, "Classify the message into one of: billing, shipping, other.\n\nMessage: meh", b);
   ok(strcmp(a, b) != 0, "label lists after a colon are part of the template");

   /* with a system prompt, chat openers are input, task-shaped messages are templates */
   const char *sys = "You are the support assistant of Brightcart. Answer briefly.";
   fp_text(sys, "Hi,\n\nmy order ORD-11223 never arrived: can you check?", a);
   fp_text(sys, "Where is my parcel", b);
   is_str(a, b, "chat messages with blank lines and colons are input");
   fp_text(sys, "Summarize the ticket below:\n\nmy parcel is late", b);
   ok(strcmp(a, b) != 0, "a task-shaped first user message is a template");
   fp_text(sys, "Subject: parcel late\n\nmy parcel is late", b);
   is_str(a, b, "with a system prompt, a leading input label is input");
   fp_text(NULL, "Ticket: my parcel is late", a);
   fp_text(NULL, "Ticket: refund please, order 7781", b);
   is_str(a, b, "without one, it is the template");
   fp_text(NULL, "Review: refund please, order 7781", b);
   ok(strcmp(a, b) != 0, "and tells labels apart");

   /* volume: a huge pasted input does not change the id */
   Sbuf big = { 0 };
   Sbuf_puts(&big, "Summarise this conversation in 3 bullet points:\n");
   for (int i = 0; i < 3000; i++)
      Sbuf_printf(&big, "Customer %d: line %d of a very long chat \"quoted %d\"\n", i, i * 7, i);
   fp_text("You are a helpful assistant.", big.buf, a);
   fp_text("You are a helpful assistant.", "Summarise this conversation in 5 bullet points:\nAgent: hi", b);
   is_str(a, b, "a 150 kB input fingerprints like a short one");
   Sbuf_free(&big);

   /* UTF-8: curly quotes, names with accents, non-breaking spaces */
   fp_text("Tu es l\u2019assistant de Café Lumière.", "R\u00e9sume ce message\u00a0: \u201cla commande 42 est en retard\u201d", a);
   fp_text("Tu es l\u2019assistant de Café Lumière.", "R\u00e9sume ce message\u00a0: \u201cje veux un remboursement\u201d", b);
   is_str(a, b, "UTF-8 text and curly quotes");

   /* the id only depends on the template, across calls and processes */
   fp_text("You are a tone analyzer.", "great stuff", a);
   is_str(a, "bad896a45adabc2c", "ids are stable (changing the rules changes every stored id)");
}

int main(void) {
   const char *seed = getenv("TEST_SEED"); /* to explore other fills; the default is fixed */
   if (seed)
      rng_state = strtoull(seed, NULL, 0);
   memo = Fingerprint_memo_new();
   test_grouping();
   test_shapes();
   Fingerprint_memo_free(memo);
   return tap_done();
}
