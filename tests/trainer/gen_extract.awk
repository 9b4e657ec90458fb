# gen_extract.awk - synthetic order-support tickets for the extractor, as chat fine-tuning JSONL
# whose assistant answers are JSON objects of fields copied from the ticket (customer, order_id,
# date, amount, product; null when the ticket does not say). Twelve templates with distractors
# (a second date, a second number, a phone number) so that context matters, not only shape.
#   awk -v n=N -v seed=S [-v nonspan=FRACTION] [-v format=chat|exchange] [-v oneline=1] [-v tmin=A -v tmax=B] -f gen_extract.awk
# nonspan puts that share of the rows' "date" in ISO form where the ticket spells it otherwise
# (a value the extractor cannot copy). format=exchange prints the user text and the answer as
# two tab-separated JSON strings instead (for stand-ins and benchmarks); oneline=1 keeps every
# ticket on one line; tmin and tmax (0..11) restrict the templates (unseen-template tests).
function pick(a, k) { return a[1 + int(rand() * k)] }
function jstr(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/\n/, "\\n", s); gsub(/\t/, "\\t", s); return "\"" s "\"" }
function jval(s) { return s == "" ? "null" : jstr(s) }
BEGIN {
   srand(seed)
   if (tmax == "") tmax = 11
   nf = split("Alice Bruno Chen Dana Elif Farid Grace Hugo Ines Jonas Keiko Liam Maya Nikolai Olga Pedro Quinn Rosa Sami Tara Umar Vera Wen Ximena Yusuf Zoe Aiko Bela Carmen Dmitri", F, " ")
   nl = split("Martin Novak Okafor Schmidt Rossi Tanaka Larsen Moreau Silva Kowalski Haddad Petrov Nguyen Brennan Costa Fischer Lindqvist Mbeki Ortega Quist Varga Yilmaz Zhou Abara Dubois Eriksen Ferreira Gallo Ivanova Jensen", L, " ")
   np = split("wireless mouse|standing desk|coffee grinder|noise cancelling headphones|yoga mat|air purifier|mechanical keyboard|travel backpack|desk lamp|water bottle|smart watch|office chair|blender|rice cooker|phone case|hiking boots|electric kettle|monitor arm|webcam|bluetooth speaker", P, "|")
   split("January February March April May June July August September October November December", M, " ")
   split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", MS, " ")
   for (i = 0; i < n; i++) {
      name = pick(F, nf) " " pick(L, nl)
      r = rand()
      oid = r < 0.4 ? sprintf("ORD-%05d", int(rand() * 100000)) : r < 0.7 ? sprintf("#%06d", int(rand() * 1000000)) \
            : sprintf("%c%c%04d", 65 + int(rand() * 26), 65 + int(rand() * 26), int(rand() * 10000))
      y = 2023 + int(rand() * 3); mo = 1 + int(rand() * 12); d = 1 + int(rand() * 28)
      iso = sprintf("%04d-%02d-%02d", y, mo, d)
      r = rand()
      date = r < 0.3 ? iso : r < 0.55 ? sprintf("%s %d, %d", M[mo], d, y) : r < 0.8 ? sprintf("%02d/%02d/%04d", d, mo, y) \
             : sprintf("%d %s %d", d, MS[mo], y)
      date2 = sprintf("%s %d", M[1 + int(rand() * 12)], 1 + int(rand() * 28))
      cents = int(rand() * 100)
      units = int(rand() * 2000) + 3
      r = rand()
      amount = r < 0.5 ? sprintf("$%d.%02d", units, cents) : r < 0.75 ? sprintf("EUR %d.%02d", units, cents) \
               : sprintf("%d.%02d USD", units, cents)
      prod = pick(P, np)
      phone = sprintf("555-%04d", int(rand() * 10000))
      qty = 1 + int(rand() * 4)
      t = tmin + int(rand() * (tmax - tmin + 1))
      c = name; o = oid; dt = date; a = amount; p = prod
      if (t == 0) text = "Hi, this is " name ". My order " oid " placed on " date " for " amount " has not arrived. The " prod " was a gift."
      else if (t == 1) text = "Order " oid ": " qty " x " prod " charged " amount " on " date ". Customer " name " wants a refund."
      else if (t == 2) { text = name " here - I was billed " amount " twice for the " prod " (order " oid "). Call me at " phone "."; dt = "" }
      else if (t == 3) { text = "Please cancel " oid " as soon as possible. Thanks, " name; a = ""; dt = ""; p = "" }
      else if (t == 4) text = "On " date " I bought a " prod " for " amount ". Order number " oid ". I wrote on " date2 " already. Regards, " name
      else if (t == 5) { sep = oneline ? "; " : "\n"; text = "Customer: " name sep "Order: " oid sep "Date: " date sep "Item: " prod sep "Total: " amount }
      else if (t == 6) { text = "Can you check why the " prod " I ordered on " date " is late? It's " oid ", I need it by " date2 "."; c = ""; a = "" }
      else if (t == 7) { text = "Refund " amount " to " name " for order " oid ", the " prod " arrived broken."; dt = "" }
      else if (t == 8) { text = "hello, " tolower(substr(prod, 1, 1)) substr(prod, 2) " from order " oid " is missing a part. " qty " units were in the box. - " name; a = ""; dt = "" }
      else if (t == 9) text = "I'm " name " (phone " phone "). Ordered " prod " on " date ", paid " amount ", reference " oid "."
      else if (t == 10) { text = "Where is " oid "? It was due " date2 " and I paid " amount ". " name; dt = ""; p = "" }
      else text = "Dear support, the " prod " (" oid ", " date ") stopped working after " qty " days. I'd like my " amount " back. Best, " name
      if (nonspan > 0 && dt != "" && dt != iso && rand() < nonspan)
         dt = iso
      ans = "{\"customer\":" jval(c) ",\"order_id\":" jval(o) ",\"date\":" jval(dt) ",\"amount\":" jval(a) ",\"product\":" jval(p) "}"
      if (format == "exchange")
         print jstr(text) "\t" jstr(ans)
      else
         print "{\"messages\":[{\"role\":\"system\",\"content\":\"Extract customer, order_id, date, amount and product as JSON; null when absent.\"},{\"role\":\"user\",\"content\":" jstr(text) "},{\"role\":\"assistant\",\"content\":" jstr(ans) "}]}"
   }
}
