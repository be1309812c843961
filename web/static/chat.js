// The chat: asks /api/ask, shows answers with citation chips, keeps the conversation in localStorage.
// Every piece of data reaches the page through textContent or createTextNode, never as markup.
"use strict";

(() => {
  const STORE_KEY = "reportqa.chat.v1";
  const KEEP = 50; // exchanges kept across reloads
  const TIMEOUT_MS = 30000;
  const DECLINED = "The report does not seem to cover this.";

  const form = document.getElementById("ask-form");
  const box = document.getElementById("question");
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  const examples = document.getElementById("examples");
  const clearButton = document.getElementById("clear");
  const chat = document.querySelector(".chat");
  if (!form || !box || !log) return;
  // Chips name the report too when the server has loaded several.
  const SEVERAL_REPORTS = Number((chat && chat.dataset.reports) || "1") > 1;
  const GAP = 8; // px kept between the newest reply and the composer (or the top of the window)

  let history = load();
  let busy = false;
  let panelCount = 0;

  // ---- DOM helpers -------------------------------------------------------------------------

  // el("p", {class: "x", text: "..."}, child, ...): attributes set one by one, text as text.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function announce(message) {
    if (!status) return;
    status.textContent = "";
    // A fresh text node after clearing makes screen readers repeat an identical message.
    window.requestAnimationFrame(() => { status.textContent = message; });
  }

  // ---- Storage -----------------------------------------------------------------------------

  function load() {
    try {
      const saved = JSON.parse(window.localStorage.getItem(STORE_KEY) || "[]");
      return Array.isArray(saved) ? saved.filter((x) => x && typeof x.question === "string" && x.reply) : [];
    } catch {
      return [];
    }
  }

  function save() {
    history = history.slice(-KEEP);
    try {
      window.localStorage.setItem(STORE_KEY, JSON.stringify(history));
    } catch {
      // Storage full or disabled: the conversation just won't survive a reload.
    }
  }

  // ---- Passages and highlighting -----------------------------------------------------------

  // text[start:end] as text nodes, with the part inside [hlStart, hlEnd) wrapped in <mark>.
  function pieces(text, start, end, hl) {
    if (!hl || hl[1] <= start || hl[0] >= end) return [text.slice(start, end)];
    const lo = Math.max(start, hl[0]);
    const hi = Math.min(end, hl[1]);
    return [text.slice(start, lo), el("mark", { text: text.slice(lo, hi) }), text.slice(hi, end)].filter(
      (part) => part !== "",
    );
  }

  // Lines become paragraphs; consecutive "• " lines become one list (as on the passage pages).
  function passageText(text, hl) {
    const wrap = el("div", { class: "passage-text" });
    let list = null;
    let offset = 0;
    for (const line of text.split("\n")) {
      const start = offset;
      const end = offset + line.length;
      offset = end + 1;
      if (line.startsWith("• ")) {
        if (!list) list = wrap.appendChild(el("ul"));
        list.append(el("li", {}, ...pieces(text, start + 2, end, hl)));
      } else {
        list = null;
        wrap.append(el("p", {}, ...pieces(text, start, end, hl)));
      }
    }
    return wrap;
  }

  function where(citation) {
    const node = el("p", { class: "where" });
    if (citation.section) node.append(el("span", { class: "section", text: citation.section }));
    if (citation.heading) {
      node.append(el("span", { class: "sep", "aria-hidden": "true", text: " › " }));
      node.append(el("span", { class: "heading", text: citation.heading }));
    }
    return node;
  }

  function passagePath(id) {
    return "/p/" + encodeURIComponent(id);
  }

  // With several reports loaded, passages live under their report: /r/{doc}/p/{id}.
  function reportPath(citation) {
    return SEVERAL_REPORTS && citation.doc ? "/r/" + encodeURIComponent(citation.doc) : "";
  }

  // A table passage as a table: its header names over every row (as on the passage pages).
  function tableView(citation, hl) {
    const { columns, rows } = citation.table;
    const captionEnd = citation.text.indexOf("\n");
    const caption = el("caption", {}, ...pieces(citation.text, 0, captionEnd < 0 ? 0 : captionEnd, hl));
    const head = el("thead", {}, el("tr", {}, ...columns.map((name) => el("th", { scope: "col", text: name }))));
    const body = el("tbody");
    for (const row of rows) {
      const marked = Boolean(hl) && row.start < hl[1] && hl[0] < row.end;
      const name = marked ? el("mark", { text: row.name }) : row.name;
      body.append(
        el("tr", { class: marked ? "marked" : null }, el("th", { scope: "row" }, name),
          ...row.cells.map((cell) => el("td", { text: cell }))),
      );
    }
    const label = citation.label;
    return el("div", { class: "passage-text" },
      el("div", { class: "table-wrap", tabindex: "0", role: "group", "aria-label": label },
        el("table", {}, caption, head, body)));
  }

  function passageView(citation, highlight) {
    const hl = highlight && citation.end > citation.start ? [citation.start, citation.end] : null;
    const own = reportPath(citation) + passagePath(citation.paragraph) + (hl ? `?hl=${hl[0]}-${hl[1]}` : "");
    const whole = (reportPath(citation) || "/report") + "#p-" + encodeURIComponent(citation.paragraph);
    return el(
      "article",
      { class: "passage-view" },
      where(citation),
      citation.table ? tableView(citation, hl) : passageText(citation.text, hl),
      el(
        "p",
        { class: "links" },
        el("a", { href: own, text: `Open ${citation.label} on its own page` }),
        " · ",
        el("a", { href: whole, text: "in the full report" }),
      ),
    );
  }

  // "¶12 · Staffing and budgets" (and the report's title when several are loaded).
  function chipText(citation) {
    const parts = [el("span", { class: "chip-label", text: citation.label })];
    if (SEVERAL_REPORTS && citation.doc_title) {
      const when = citation.doc_date ? ` (${citation.doc_date})` : "";
      parts.push(el("span", { class: "chip-doc", text: ` · ${citation.doc_title}${when}` }));
    }
    const about = citation.heading || citation.section;
    if (about) parts.push(el("span", { class: "chip-about", text: ` · ${about}` }));
    return parts;
  }

  // Chips in a row; the chosen one's passage opens in the panel below them.
  function citationChips(citations, highlight, openFirst) {
    const panelId = `panel-${++panelCount}`;
    const panel = el("div", { class: "panel", id: panelId, hidden: true });
    const row = el("div", { class: "chips", role: "group", "aria-label": "Cited passages" });
    const chips = citations.map((citation) =>
      el("button", { type: "button", class: "chip", "aria-expanded": "false", "aria-controls": panelId },
        ...chipText(citation)),
    );
    const show = (index) => {
      const opening = chips[index].getAttribute("aria-expanded") !== "true";
      chips.forEach((chip) => chip.setAttribute("aria-expanded", "false"));
      panel.replaceChildren();
      panel.hidden = !opening;
      if (opening) {
        chips[index].setAttribute("aria-expanded", "true");
        panel.append(passageView(citations[index], highlight));
      }
    };
    chips.forEach((chip, index) => {
      chip.addEventListener("click", () => show(index));
      row.append(chip);
    });
    if (openFirst && chips.length) show(0);
    return [row, panel];
  }

  // ---- Replies -----------------------------------------------------------------------------

  function copyText(question, reply) {
    const first = reply.citations[0];
    const link = first ? ` ${window.location.origin}${passagePath(first.paragraph)}` : "";
    if (!reply.answered) return `${question}\n${DECLINED}`;
    if (reply.lookup) return `${first.label}: ${first.text}\n${link.trim()}`;
    return `“${reply.answer.text}” (${first.label})${link}`;
  }

  async function copy(text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const scratch = el("textarea", { class: "offscreen", readonly: true });
      scratch.value = text;
      document.body.append(scratch);
      scratch.select();
      document.execCommand("copy");
      scratch.remove();
    }
    button.textContent = "Copied";
    announce("Answer copied with its citation.");
    window.setTimeout(() => { button.textContent = "Copy"; }, 2000);
  }

  function copyButton(question, reply) {
    const button = el("button", { type: "button", class: "quiet copy", text: "Copy",
      "aria-label": "Copy the answer with its citation" });
    button.addEventListener("click", () => copy(copyText(question, reply), button));
    return el("div", { class: "actions" }, button);
  }

  // Buttons for what to ask next, drawn by the server from the passages just cited.
  function nextSteps(reply) {
    const steps = Array.isArray(reply.next_steps) ? reply.next_steps.slice(0, 3) : [];
    const valid = steps.filter((step) => step && typeof step.question === "string" && typeof step.label === "string");
    if (!valid.length) return null;
    return el("div", { class: "next-steps", role: "group", "aria-label": "Ask next" },
      ...valid.map((step) => el("button", { type: "button", class: "step", "data-question": step.question,
        text: step.label })));
  }

  function replyBody(question, reply) {
    const body = [];
    const citations = Array.isArray(reply.citations) ? reply.citations : [];
    if (typeof reply.read_as === "string" && reply.read_as) {
      body.push(el("p", { class: "read-as" }, "Read as: ", el("q", { text: reply.read_as })));
    }
    if (reply.answered && reply.lookup && citations.length) {
      body.push(el("p", { class: "answer", text: `Here is ${citations[0].label} of the report.` }));
      body.push(...citationChips(citations, false, true));
    } else if (reply.answered && reply.answer) {
      if (reply.confidence === "low") {
        const why = typeof reply.reason === "string" && reply.reason ? ` ${reply.reason}` : "";
        body.push(el("p", { class: "hint closest",
          text: `Closest passage: the report may not answer this exactly.${why}` }));
      }
      body.push(el("blockquote", { class: "answer" }, el("p", { text: reply.answer.text })));
      if (citations.length) body.push(el("p", { class: "source", text: `— ${citations[0].label}` }));
      if (reply.answer.computed && citations.length && Array.isArray(reply.answer.rows)) {
        const count = reply.answer.rows.length;
        const used = `Worked out from ${count} row${count === 1 ? "" : "s"} of ${citations[0].label}`;
        body.push(el("p", { class: "hint computed", text: `${used}, using its own names and figures.` }));
      }
      body.push(...citationChips(citations, true, false));
    } else {
      body.push(el("p", { class: "answer declined", text: DECLINED }));
      if (typeof reply.reason === "string" && reply.reason) {
        body.push(el("p", { class: "hint reason", text: reply.reason }));
      }
      body.push(el("p", { class: "hint" }, "Try other words, or ",
        el("a", { href: "/report", text: "browse the full report" }), "."));
      if (citations.length) {
        const fold = el("details", { class: "nearest" },
          el("summary", { text: `Nearest passages (${citations.length})` }));
        fold.append(...citationChips(citations, false, false));
        body.push(fold);
      }
    }
    const steps = nextSteps(reply);
    if (steps) body.push(steps);
    body.push(copyButton(question, reply));
    return body;
  }

  function exchangeItem(question) {
    const reply = el("div", { class: "msg reply" });
    const item = el(
      "div",
      { class: "exchange" },
      el("div", { class: "msg question" }, el("span", { class: "sr-only", text: "You asked: " }),
        el("p", { class: "text", text: question })),
      reply,
    );
    return [item, reply];
  }

  function render(entry) {
    const [item, reply] = exchangeItem(entry.question);
    reply.append(...replyBody(entry.question, entry.reply));
    log.append(item);
    return item;
  }

  function refresh() {
    const empty = !log.querySelector(".exchange");
    if (examples) examples.hidden = !empty || !examples.querySelector("button");
    if (clearButton) clearButton.hidden = empty;
  }

  // The newest reply in full just above the sticky composer when it fits; otherwise its start at the
  // top of the window (scrollIntoView would leave its end under the composer).
  function reveal(item) {
    const bottom = form.getBoundingClientRect().top - GAP;
    const rect = item.getBoundingClientRect();
    const fits = rect.height <= bottom - GAP;
    if (fits && rect.top >= GAP && rect.bottom <= bottom) return;
    const delta = fits ? rect.bottom - bottom : rect.top - GAP;
    window.scrollBy({ top: delta, left: 0, behavior: "instant" });
  }

  // ---- Conversation context ----------------------------------------------------------------

  // The previous turn, sent with each question so a follow-up ("and in 2019?") can lean on it.
  function turnOf(entry) {
    const reply = entry.reply;
    const citations = Array.isArray(reply.citations) ? reply.citations : [];
    if (!citations.length) return null;
    const paragraph = reply.answer && reply.answer.paragraph ? reply.answer.paragraph : citations[0].paragraph;
    return { question: reply.read_as || entry.question, doc: citations[0].doc, paragraph };
  }

  // A page answered on the server carries its turn in the form's hidden fields.
  function serverTurn() {
    const field = (name) => (form.elements.namedItem(name) || { value: "" }).value;
    const question = field("context_question");
    const paragraph = field("context_paragraph");
    return question || paragraph
      ? { question, doc: field("context_doc") || null, paragraph: paragraph || null } : null;
  }

  let context = null;

  // ---- Asking ------------------------------------------------------------------------------

  async function readableError(response) {
    let detail = "";
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : "";
    } catch {
      // not JSON; fall through to the status
    }
    if (response.status === 503) return "The service is still starting. Try again in a few seconds.";
    if (response.status === 429) return "Too many questions at once. Wait a moment and try again.";
    if (response.status >= 400 && response.status < 500) {
      const reason = detail.replace(/^question: /, "");
      return `That question was not accepted${reason ? `: ${reason}` : ""}.`;
    }
    return "The server could not answer just now. Try again in a moment.";
  }

  async function request(question, turn) {
    const controller = new AbortController();
    const timer = window.setTimeout(() => controller.abort(), TIMEOUT_MS);
    const payload = turn ? { question, context: turn } : { question };
    const picker = document.getElementById("doc");
    if (picker && picker.value) payload.docs = [picker.value];
    try {
      const response = await fetch("/api/ask", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify(payload),
        signal: controller.signal,
      });
      if (response.ok) return { body: await response.json() };
      return { error: await readableError(response), retry: response.status >= 500 || response.status === 429 };
    } catch (exception) {
      const error = exception && exception.name === "AbortError"
        ? "The server took too long to answer. Try again."
        : "Could not reach the server. Check that it is running, then try again.";
      return { error, retry: true };
    } finally {
      window.clearTimeout(timer);
    }
  }

  function failed(item, reply, question, turn, outcome) {
    const error = el("p", { class: "error", text: outcome.error });
    reply.append(error);
    item.classList.add("failed");
    if (outcome.retry) {
      const retry = el("button", { type: "button", class: "retry", text: "Retry" });
      retry.addEventListener("click", () => {
        item.remove();
        if (box.value.trim() === question) box.value = "";
        ask(question, turn);
      });
      reply.append(el("div", { class: "actions" }, retry));
    }
    if (!box.value.trim()) box.value = question; // keep it so it can be edited and sent again
  }

  async function ask(question, turn = context) {
    if (busy) return;
    question = question.trim();
    if (!question) {
      box.focus();
      return;
    }
    busy = true;
    form.setAttribute("aria-busy", "true");
    if (examples) examples.hidden = true;
    const [item, reply] = exchangeItem(question);
    item.setAttribute("aria-busy", "true");
    const loading = el("p", { class: "loading" }, el("span", { class: "dots", "aria-hidden": "true" }),
      "Searching the report…");
    reply.append(loading);
    log.append(item);
    reveal(item);

    const outcome = await request(question, turn);
    loading.remove();
    item.removeAttribute("aria-busy");
    if (outcome.body) {
      const entry = { question: outcome.body.question || question, reply: outcome.body };
      reply.append(...replyBody(entry.question, entry.reply));
      history.push(entry);
      save();
      context = turnOf(entry) || context;
    } else {
      failed(item, reply, question, turn, outcome);
    }
    busy = false;
    form.removeAttribute("aria-busy");
    refresh();
    reveal(item);
    box.focus({ preventScroll: true });
  }

  // ---- Wiring ------------------------------------------------------------------------------

  // Every .ask form (the question box and the example buttons) is answered in place.
  document.addEventListener("submit", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLFormElement) || !target.classList.contains("ask")) return;
    event.preventDefault();
    const submitter = event.submitter;
    if (target === form) {
      const question = box.value;
      if (!question.trim()) return;
      box.value = "";
      ask(question);
    } else if (submitter && submitter.value) {
      ask(submitter.value);
    }
    box.focus({ preventScroll: true });
  });

  // Next-step buttons ask their question in the context of the conversation so far.
  log.addEventListener("click", (event) => {
    const step = event.target instanceof Element ? event.target.closest("button.step") : null;
    if (step && step.dataset.question) ask(step.dataset.question);
  });

  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  if (clearButton) {
    clearButton.addEventListener("click", () => {
      history = [];
      context = null;
      save();
      log.replaceChildren();
      refresh();
      announce("Conversation cleared.");
      box.focus();
    });
  }

  // A page the server already answered (the no-JavaScript form) keeps its reply; otherwise restore.
  if (log.querySelector(".from-server")) {
    context = serverTurn();
  } else {
    for (const entry of history) render(entry);
    const last = history[history.length - 1];
    context = last ? turnOf(last) : null;
    const newest = log.lastElementChild;
    if (newest) reveal(newest);
  }
  refresh();
  box.focus({ preventScroll: true });
})();
