/* test_chatdata.c - chat JSONL parsing and the label-set checks. */
#include "config.h"

#include "common/util.h"
#include "tap.h"
#include "trainer/chatdata.h"

static const char *row(Sbuf *sb, const char *user, const char *label) {
   Sbuf_printf(sb, "{\"messages\":[{\"role\":\"system\",\"content\":\"Classify.\"},{\"role\":\"user\",\"content\":\"%s\"},"
               "{\"role\":\"assistant\",\"content\":\"%s\"}]}\n", user, label);
   return sb->buf;
}

static bool load(const char *text, ChatData *d, char **err) {
   free(*err);
   *err = NULL;
   return ChatData_parse(text, strlen(text), d, err);
}

int main(void) {
   ChatData d;
   char *err = NULL;
   Sbuf sb = { 0 };
   for (int i = 0; i < 30; i++)
      row(&sb, i % 3 == 0 ? "where is my parcel" : i % 3 == 1 ? "refund please" : "reset password",
          i % 3 == 0 ? "shipping" : i % 3 == 1 ? "billing" : "account");
   Sbuf_puts(&sb, "\n   \n");   /* trailing blank lines are fine */
   ok(load(sb.buf, &d, &err), "30 examples parse");
   is_int(d.n, 30, "30 rows");
   is_str(d.texts[0], "where is my parcel", "text is the user message, not the system prompt");
   is_str(d.labels[1], "billing", "label is the assistant message");
   ok(d.tokens > 30 * 3, "tokens estimated over all messages (%lld)", d.tokens);
   ok(ChatData_check_labels(&d, &err), "three labels over 30 rows is a label set");
   ChatData_free(&d);

   ok(!load("", &d, &err) && strstr(err, "empty"), "empty file refused");
   ok(!load("\n\n", &d, &err) && strstr(err, "empty"), "blank file refused");
   ok(!load("id,text,label\n1,hi,x\n", &d, &err) && strstr(err, "line 1 is not valid JSON"), "CSV refused");
   ok(!load("{\"prompt\":\"x\",\"completion\":\"y\"}\n", &d, &err) && strstr(err, "no \"messages\" array"),
      "legacy prompt/completion refused");
   ok(!load("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}\n", &d, &err) && strstr(err, "[user]"),
      "missing assistant refused, roles named");
   ok(!load("{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\"},{\"role\":\"user\",\"content\":\"y\"}]}", &d, &err)
      && strstr(err, "assistant, user"), "wrong order refused");
   ok(!load("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":3}]}", &d, &err)
      && strstr(err, "content must be a string"), "non-string content refused");
   ok(!load("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":\"\"}]}", &d, &err)
      && strstr(err, "empty"), "empty label refused");
   Sbuf two = { 0 };
   row(&two, "a", "b");
   Sbuf_puts(&two, "{\"messages\": [}\n");
   ok(!load(two.buf, &d, &err) && strstr(err, "line 2"), "the bad line is named");
   Sbuf_free(&two);

   /* Label-set checks. */
   Sbuf free_text = { 0 };
   for (int i = 0; i < 40; i++)
      row(&free_text, "summarise this", i % 2 ? "The customer asks for a refund of the duplicate charge on the March invoice"
                                               : "The customer cannot log in after the password reset and wants a call back");
   ok(load(free_text.buf, &d, &err) && !ChatData_check_labels(&d, &err) && strstr(err, "free text"),
      "long outputs refused as free text");
   ChatData_free(&d);
   Sbuf_free(&free_text);
   Sbuf distinct = { 0 };
   for (int i = 0; i < 40; i++) {
      char l[16];
      snprintf(l, sizeof l, "out-%d", i % 25);
      row(&distinct, "x", l);
   }
   ok(load(distinct.buf, &d, &err) && !ChatData_check_labels(&d, &err) && strstr(err, "25 distinct outputs in 40"),
      "more than half distinct refused");
   ChatData_free(&d);
   Sbuf_free(&distinct);
   Sbuf many = { 0 };
   for (int i = 0; i < 2000; i++) {
      char l[16];
      snprintf(l, sizeof l, "l%d", i % 201);
      row(&many, "x", l);
   }
   ok(load(many.buf, &d, &err) && !ChatData_check_labels(&d, &err) && strstr(err, "201 distinct"),
      "more than 200 labels refused");
   ChatData_free(&d);
   Sbuf_free(&many);
   Sbuf one = { 0 };
   for (int i = 0; i < 10; i++)
      row(&one, "x", "same");
   ok(load(one.buf, &d, &err) && !ChatData_check_labels(&d, &err) && strstr(err, "two labels"), "a single label refused");
   ChatData_free(&d);
   Sbuf_free(&one);

   /* Serving extracts text the same way, including array content. */
   json_t *m = json_loads("[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                          "\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},{\"role\":\"user\",\"content\":\"c\"}]", 0, NULL);
   char *t = ChatData_text(m);
   is_str(t, "a b\nc", "text parts and several user messages joined");
   free(t);
   json_decref(m);
   m = json_loads("[{\"role\":\"system\",\"content\":\"s\"}]", 0, NULL);
   ok(ChatData_text(m) == NULL, "no user message: NULL");
   json_decref(m);
   is_int(ChatData_tokens(""), 0, "empty text has no tokens");
   is_int(ChatData_tokens("abcde"), 2, "5 bytes round up to 2 tokens");
   free(err);
   Sbuf_free(&sb);
   return tap_done();
}
