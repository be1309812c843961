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
  if (!form || !box || !log) return;

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

  function passageView(citation, highlight) {
    const hl = highlight && citation.end > citation.start ? [citation.start, citation.end] : null;
    const own = passagePath(citation.paragraph) + (hl ? `?hl=${hl[0]}-${hl[1]}` : "");
    return el(
      "article",
      { class: "passage-view" },
      where(citation),
      passageText(citation.text, hl),
      el(
        "p",
        { class: "links" },
        el("a", { href: own, text: `Open ${citation.label} on its own page` }),
        " · ",
        el("a", { href: "/report#p-" + encodeURIComponent(citation.paragraph), text: "in the full report" }),
      ),
    );
  }

  // Chips in a row; the chosen one's passage opens in the panel below them.
  function citationChips(citations, highlight, openFirst) {
    const panelId = `panel-${++panelCount}`;
    const panel = el("div", { class: "panel", id: panelId, hidden: true });
    const row = el("div", { class: "chips", role: "group", "aria-label": "Cited passages" });
    const chips = citations.map((citation) =>
      el("button", { type: "button", class: "chip", "aria-expanded": "false", "aria-controls": panelId,
        text: citation.label }),
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

  function replyBody(question, reply) {
    const body = [];
    const citations = Array.isArray(reply.citations) ? reply.citations : [];
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
    body.push(copyButton(question, reply));
    return body;
  }

  function exchangeItem(question) {
    const reply = el("div", { class: "msg reply" });
    const item = el(
      "li",
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
    if (examples) examples.hidden = !empty;
    if (clearButton) clearButton.hidden = empty;
  }

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

  async function ask(question) {
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
    item.scrollIntoView({ block: "end", behavior: "smooth" });

    const controller = new AbortController();
    const timer = window.setTimeout(() => controller.abort(), TIMEOUT_MS);
    let error = null;
    let body = null;
    try {
      const response = await fetch("/api/ask", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ question }),
        signal: controller.signal,
      });
      if (response.ok) body = await response.json();
      else error = await readableError(response);
    } catch (exception) {
      error = exception && exception.name === "AbortError"
        ? "The server took too long to answer. Try again."
        : "Could not reach the server. Check that it is running, then try again.";
    } finally {
      window.clearTimeout(timer);
    }

    loading.remove();
    item.removeAttribute("aria-busy");
    if (body) {
      const entry = { question: body.question || question, reply: body };
      reply.append(...replyBody(entry.question, entry.reply));
      history.push(entry);
      save();
    } else {
      reply.append(el("p", { class: "error", text: error }));
      item.classList.add("failed");
      if (!box.value.trim()) box.value = question; // keep it so it can be sent again
    }
    busy = false;
    form.removeAttribute("aria-busy");
    refresh();
    item.scrollIntoView({ block: "nearest" });
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
      box.focus();
    } else if (submitter && submitter.value) {
      ask(submitter.value);
      box.focus();
    }
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
      save();
      log.replaceChildren();
      refresh();
      announce("Conversation cleared.");
      box.focus();
    });
  }

  // A page the server already answered (the no-JavaScript form) keeps its reply; otherwise restore.
  if (!log.querySelector(".from-server")) {
    for (const entry of history) render(entry);
    const last = log.lastElementChild;
    if (last) last.scrollIntoView({ block: "end" });
  }
  refresh();
})();
