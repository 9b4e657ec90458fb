/* formatcheck.c - declared answer formats and the check of one answer against them. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/compare.h"
#include "common/formatcheck.h"
#include "common/util.h"

long Format_chars(const char *s) {
   long n = 0;
   for (const unsigned char *p = (const unsigned char *)s; *p; p++)
      n += (*p & 0xC0) != 0x80;
   return n;
}

bool Format_regex_valid(const char *regex, char **err) {
   regex_t re;
   int rc = regcomp(&re, regex, REG_EXTENDED | REG_NOSUB);
   if (rc != 0) {
      char msg[128];
      regerror(rc, &re, msg, sizeof msg);
      *err = xasprintf("--format-regex '%s' is not a POSIX extended regular expression: %s", regex, msg);
      return false;
   }
   regfree(&re);
   return true;
}

/* ---------------------------------------------------------------- the schema subset */

static const char *const type_names[] = { "string", "number", "integer", "boolean", "object", "array", "null" };

static bool known_type(const char *t) {
   for (size_t i = 0; t && i < ARRAY_SIZE(type_names); i++) {
      if (str_eq(t, type_names[i]))
         return true;
   }
   return false;
}

static bool schema_ok(const json_t *s, const char *path, char **err) {
   if (!json_is_object(s)) {
      *err = xasprintf("--format-schema: %s must be a JSON object (a schema)", path);
      return false;
   }
   const char *k;
   json_t *v;
   json_object_foreach((json_t *)s, k, v) {
      bool ok = true;
      char *sub = NULL;
      if (str_eq(k, "type")) {
         if (json_is_array(v)) {
            size_t i;
            json_t *t;
            json_array_foreach(v, i, t) ok = ok && known_type(json_string_value(t));
         } else {
            ok = known_type(json_string_value(v));
         }
         if (!ok)
            *err = xasprintf("--format-schema: %s.type must be one of string, number, integer, boolean, object, array, "
                             "null (or a list of them)", path);
      } else if (str_eq(k, "required")) {
         size_t i;
         json_t *t;
         ok = json_is_array(v);
         json_array_foreach(v, i, t) ok = ok && json_is_string(t);
         if (!ok)
            *err = xasprintf("--format-schema: %s.required must be a list of field names", path);
      } else if (str_eq(k, "properties")) {
         ok = json_is_object(v);
         if (!ok)
            *err = xasprintf("--format-schema: %s.properties must be an object of schemas", path);
         const char *pk;
         json_t *pv;
         json_object_foreach(v, pk, pv) {
            if (!ok)
               break;
            sub = xasprintf("%s.properties.%s", path, pk);
            ok = schema_ok(pv, sub, err);
            free(sub);
            sub = NULL;
         }
      } else if (str_eq(k, "items") || (str_eq(k, "additionalProperties") && !json_is_boolean(v))) {
         sub = xasprintf("%s.%s", path, k);
         ok = schema_ok(v, sub, err);
      } else if (str_eq(k, "enum")) {
         ok = json_is_array(v) && json_array_size(v) > 0;
         if (!ok)
            *err = xasprintf("--format-schema: %s.enum must be a non-empty list of values", path);
      } else if (str_eq(k, "minLength") || str_eq(k, "maxLength")) {
         ok = json_is_integer(v) && json_integer_value(v) >= 0;
         if (!ok)
            *err = xasprintf("--format-schema: %s.%s must be a whole number >= 0", path, k);
      } else if (!str_eq(k, "additionalProperties") && !str_eq(k, "$schema") && !str_eq(k, "title") &&
                 !str_eq(k, "description")) {
         *err = xasprintf("--format-schema: %s has '%s', which offramp does not check (supported: type, required, "
                          "properties, items, additionalProperties, enum, minLength, maxLength)", path, k);
         ok = false;
      }
      free(sub);
      if (!ok)
         return false;
   }
   return true;
}

bool Format_schema_valid(const char *schema, char **err) {
   json_error_t je;
   json_t *j = json_loads(schema, 0, &je);
   if (!j) {
      *err = xasprintf("--format-schema: not JSON (%s at line %d); pass the schema inline or as @FILE", je.text, je.line);
      return false;
   }
   bool ok = schema_ok(j, "$", err);
   json_decref(j);
   return ok;
}

static bool has_type(const json_t *v, const char *t) {
   if (str_eq(t, "integer"))
      return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v));
   return (str_eq(t, "string") && json_is_string(v)) || (str_eq(t, "number") && json_is_number(v)) ||
          (str_eq(t, "boolean") && json_is_boolean(v)) || (str_eq(t, "object") && json_is_object(v)) ||
          (str_eq(t, "array") && json_is_array(v)) || (str_eq(t, "null") && json_is_null(v));
}

static bool same_value(const json_t *a, const json_t *b) {
   if (json_is_number(a) && json_is_number(b))
      return json_number_value(a) == json_number_value(b);
   return json_equal((json_t *)a, (json_t *)b);
}

static bool validate(const json_t *s, const json_t *v, const char *path, char **why) {
   const json_t *type = json_object_get(s, "type");
   if (type) {
      bool ok = false;
      if (json_is_array(type)) {
         for (size_t i = 0; i < json_array_size(type) && !ok; i++)
            ok = has_type(v, json_string_value(json_array_get(type, i)));
      } else {
         ok = has_type(v, json_string_value(type));
      }
      if (!ok) {
         *why = json_is_string(type) ? xasprintf("%s: not %s %s", path, strchr("aeiou", json_string_value(type)[0]) ? "an" : "a",
                                                 json_string_value(type))
                                     : xasprintf("%s: not of an allowed type", path);
         return false;
      }
   }
   const json_t *en = json_object_get(s, "enum");
   if (en) {
      bool ok = false;
      for (size_t i = 0; i < json_array_size(en) && !ok; i++)
         ok = same_value(v, json_array_get(en, i));
      if (!ok) {
         *why = xasprintf("%s: not one of the schema's enum values", path);
         return false;
      }
   }
   if (json_is_string(v)) {
      long n = Format_chars(json_string_value(v));
      const json_t *mn = json_object_get(s, "minLength"), *mx = json_object_get(s, "maxLength");
      if (mn && n < (long)json_integer_value(mn)) {
         *why = xasprintf("%s: %ld characters, the schema needs at least %lld", path, n, (long long)json_integer_value(mn));
         return false;
      }
      if (mx && n > (long)json_integer_value(mx)) {
         *why = xasprintf("%s: %ld characters, the schema allows at most %lld", path, n, (long long)json_integer_value(mx));
         return false;
      }
   }
   if (json_is_object(v)) {
      const json_t *req = json_object_get(s, "required");
      for (size_t i = 0; i < json_array_size(req); i++) {
         const char *k = json_string_value(json_array_get(req, i));
         if (!json_object_get(v, k)) {
            *why = xasprintf("%s: required field '%s' is missing", path, k);
            return false;
         }
      }
      const json_t *props = json_object_get(s, "properties"), *extra = json_object_get(s, "additionalProperties");
      const char *k;
      json_t *fv;
      json_object_foreach((json_t *)v, k, fv) {
         const json_t *ps = json_object_get(props, k);
         char *sub = xasprintf("%s.%s", path, k);
         bool ok = true;
         if (ps)
            ok = validate(ps, fv, sub, why);
         else if (json_is_false(extra)) {
            *why = xasprintf("%s: a field the schema does not allow", sub);
            ok = false;
         } else if (json_is_object(extra))
            ok = validate(extra, fv, sub, why);
         free(sub);
         if (!ok)
            return false;
      }
   }
   const json_t *items = json_object_get(s, "items");
   if (json_is_array(v) && items) {
      for (size_t i = 0; i < json_array_size(v); i++) {
         char *sub = xasprintf("%s[%zu]", path, i);
         bool ok = validate(items, json_array_get(v, i), sub, why);
         free(sub);
         if (!ok)
            return false;
      }
   }
   return true;
}

/* ---------------------------------------------------------------- labels */

char *Format_labels_json(const char *list, char **err) {
   json_t *a = json_array();
   const char *p = list;
   while (*p) {
      const char *e = strchr(p, ',');
      size_t n = e ? (size_t)(e - p) : strlen(p);
      char *l = str_trim(xstrndup(p, n));
      if (*l)
         json_array_append_new(a, json_string(l));
      free(l);
      p += n + (e != NULL);
   }
   char *out = NULL;
   if (json_array_size(a) == 0)
      *err = xasprintf("--format-labels '%s' names no label (e.g. --format-labels billing,refund,other)", list);
   else
      out = json_dumps(a, JSON_COMPACT);
   json_decref(a);
   return out;
}

/* Trimmed and ASCII case-folded equality, the label comparison everywhere else. */
static bool label_eq(const char *a, const char *b) {
   while (isspace((unsigned char)*a))
      a++;
   while (isspace((unsigned char)*b))
      b++;
   size_t na = strlen(a), nb = strlen(b);
   while (na && isspace((unsigned char)a[na - 1]))
      na--;
   while (nb && isspace((unsigned char)b[nb - 1]))
      nb--;
   return na == nb && strncasecmp(a, b, na) == 0;
}

/* ---------------------------------------------------------------- specs */

bool FormatSpec_init(FormatSpec *f, const char *regex, const char *starts_with, long min_length, long max_length,
                     const char *labels, const char *schema, char **err) {
   memset(f, 0, sizeof *f);
   if (regex && *regex) {
      if (!Format_regex_valid(regex, err))
         return false;
      regcomp(&f->re, regex, REG_EXTENDED | REG_NOSUB);
      f->regex = xstrdup(regex);
   }
   f->starts_with = starts_with && *starts_with ? xstrdup(starts_with) : NULL;
   f->min_length = min_length;
   f->max_length = max_length;
   if (labels && *labels) {
      f->labels = json_loads(labels, 0, NULL);
      if (!json_is_array(f->labels)) {
         *err = xasprintf("the task's format labels are not a JSON list: %s", labels);
         FormatSpec_clear(f);
         return false;
      }
   }
   if (schema && *schema) {
      if (!Format_schema_valid(schema, err)) {
         FormatSpec_clear(f);
         return false;
      }
      f->schema = json_loads(schema, 0, NULL);
   }
   return true;
}

void FormatSpec_clear(FormatSpec *f) {
   if (f->regex)
      regfree(&f->re);
   free(f->regex);
   free(f->starts_with);
   json_decref(f->labels);
   json_decref(f->schema);
   memset(f, 0, sizeof *f);
}

bool FormatSpec_any(const FormatSpec *f) {
   return f->regex || f->starts_with || f->min_length > 0 || f->max_length > 0 || f->labels || f->schema;
}

static bool fail(char **why, char *msg) {
   if (why)
      *why = msg;
   else
      free(msg);
   return false;
}

bool FormatSpec_check(const FormatSpec *f, const char *answer, char **why) {
   if (why)
      *why = NULL;
   if (!answer)
      return fail(why, xstrdup("no answer"));
   long n = Format_chars(answer);
   if (f->min_length > 0 && n < f->min_length)
      return fail(why, xasprintf("shorter than %ld characters (%ld)", f->min_length, n));
   if (f->max_length > 0 && n > f->max_length)
      return fail(why, xasprintf("longer than %ld characters (%ld)", f->max_length, n));
   if (f->starts_with) {
      const char *p = answer;
      while (isspace((unsigned char)*p))
         p++;
      if (!str_startswith(p, f->starts_with))
         return fail(why, xasprintf("does not start with \"%s\"", f->starts_with));
   }
   if (f->regex && regexec(&f->re, answer, 0, NULL, 0) != 0)
      return fail(why, xasprintf("does not match /%s/", f->regex));
   if (f->labels) {
      bool found = false;
      for (size_t i = 0; i < json_array_size(f->labels) && !found; i++)
         found = label_eq(json_string_value(json_array_get(f->labels, i)), answer);
      if (!found)
         return fail(why, xstrdup("not one of the allowed labels"));
   }
   if (f->schema) {
      json_t *j = Compare_answer_json(answer);
      char *msg = NULL;
      bool ok = j && validate(f->schema, j, "$", &msg);
      json_decref(j);
      if (!ok)
         return fail(why, msg ? msg : xstrdup("not JSON"));
   }
   return true;
}
