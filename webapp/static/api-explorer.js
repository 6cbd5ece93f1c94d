// gridledger API explorer: builds a form per operation from the OpenAPI document
// (/api/v1/openapi.json), sends requests with the pasted token, shows the answers.
// Loaded from this site only (CSP: no inline scripts, no style attributes). Every word shown
// comes from the page's data- attributes (translated); text from the document and from
// answers is only ever set as textContent, never as HTML.
(function () {
  "use strict";

  var root = document.getElementById("api-explorer");
  if (!root) { return; }

  var state = { spec: null, base: "", summaries: {}, tags: {}, tagDescriptions: {}, roles: {} };

  function msg(name) { return root.getAttribute("data-msg-" + name) || name; }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) { return; }
      if (key === "text") { node.textContent = value; }
      else if (key === "className") { node.className = value; }
      else { node.setAttribute(key, value === true ? "" : value); }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function mapFrom(listId, key) {
    var found = {};
    var list = document.getElementById(listId);
    if (!list) { return found; }
    list.querySelectorAll("li").forEach(function (li) { found[li.getAttribute(key)] = li.textContent.trim(); });
    return found;
  }

  // -- the document ---------------------------------------------------------------------------

  function resolve(node) {
    var seen = 0;
    while (node && node.$ref && seen < 10) {
      var parts = node.$ref.replace(/^#\//, "").split("/");
      node = parts.reduce(function (at, part) { return at ? at[part] : undefined; }, state.spec);
      seen += 1;
    }
    return node || {};
  }

  // A schema's enum, looking through $ref and anyOf/oneOf (nullable values).
  function choices(schema) {
    schema = resolve(schema);
    if (schema.enum) { return schema.enum.filter(function (v) { return v !== null; }); }
    var parts = schema.anyOf || schema.oneOf;
    if (parts) {
      for (var i = 0; i < parts.length; i++) {
        var inner = choices(parts[i]);
        if (inner) { return inner; }
      }
    }
    return null;
  }

  function typeOf(schema) {
    schema = resolve(schema);
    var type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
    return type || "string";
  }

  // Text from the document with `code` spans and **bold**, as DOM nodes (never HTML).
  function richText(text, tag) {
    var node = el(tag || "p");
    String(text || "").split(/(`[^`]+`|\*\*[^*]+\*\*)/).forEach(function (part) {
      if (!part) { return; }
      if (part.charAt(0) === "`") { node.appendChild(el("code", { text: part.slice(1, -1) })); }
      else if (part.indexOf("**") === 0) { node.appendChild(el("strong", { text: part.slice(2, -2) })); }
      else { node.appendChild(document.createTextNode(part)); }
    });
    return node;
  }

  // -- JSON shown with colours, built from text nodes ---------------------------------------

  var TOKENS = /("(?:\\u[0-9a-fA-F]{4}|\\[^u]|[^\\"])*"(\s*:)?|\btrue\b|\bfalse\b|\bnull\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

  function jsonView(value) {
    var text = JSON.stringify(value, null, 2);
    var code = el("code");
    var last = 0;
    text.replace(TOKENS, function (match, _all, colon, offset) {
      if (offset > last) { code.appendChild(document.createTextNode(text.slice(last, offset))); }
      var kind = "json-number";
      if (match.charAt(0) === "\"") { kind = colon ? "json-key" : "json-string"; }
      else if (match === "true" || match === "false") { kind = "json-boolean"; }
      else if (match === "null") { kind = "json-null"; }
      code.appendChild(el("span", { className: kind, text: match }));
      last = offset + match.length;
      return match;
    });
    if (last < text.length) { code.appendChild(document.createTextNode(text.slice(last))); }
    return code;
  }

  // -- the token --------------------------------------------------------------------------------

  var tokenInput = document.getElementById("api-token");
  function token() { return (tokenInput.value || "").trim(); }

  var visibility = document.getElementById("token-visibility");
  visibility.addEventListener("click", function () {
    var hidden = tokenInput.type === "password";
    tokenInput.type = hidden ? "text" : "password";
    visibility.textContent = hidden ? msg("hide") : msg("show");
    visibility.setAttribute("aria-pressed", hidden ? "true" : "false");
  });

  document.getElementById("token-check").addEventListener("click", function () {
    var out = document.getElementById("token-result");
    out.hidden = false;
    out.className = "token-result";
    if (!token()) { out.textContent = msg("no-token"); out.classList.add("bad"); return; }
    out.textContent = msg("sending");
    fetch(state.base + "/me", { headers: { Authorization: "Bearer " + token(), Accept: "application/json" }, credentials: "omit" })
      .then(function (response) { return response.json().then(function (body) { return [response, body]; }); })
      .then(function (pair) {
        var response = pair[0], body = pair[1];
        out.textContent = "";
        if (response.ok) {
          out.classList.add("ok");
          var org = body.organisation || {};
          out.appendChild(document.createTextNode(msg("token-ok") + " "));
          out.appendChild(el("strong", { text: state.roles[body.role] || body.role }));
          out.appendChild(document.createTextNode(" · " + (org.name || org.code || org.id || "") + " · "));
          out.appendChild(el("code", { text: body.address }));
        } else {
          out.classList.add("bad");
          out.textContent = msg("token-bad") + " " + response.status + " " + (body.message || "");
        }
      })
      .catch(function (error) { out.classList.add("bad"); out.textContent = msg("network") + " " + error; });
  });

  // -- operations --------------------------------------------------------------------------------

  function operations() {
    var found = [];
    Object.keys(state.spec.paths || {}).forEach(function (path) {
      var item = state.spec.paths[path];
      ["get", "post", "put", "patch", "delete"].forEach(function (method) {
        if (item[method]) { found.push({ path: path, method: method, op: item[method] }); }
      });
    });
    return found;
  }

  function roleBadges(op) {
    var wrap = el("span", { className: "op-roles" });
    if (op.security && op.security.length === 0) {
      wrap.appendChild(el("span", { className: "badge", text: msg("no-auth") }));
      return wrap;
    }
    var roles = op["x-roles"] || [];
    if (roles.length === Object.keys(state.roles).length) {
      wrap.appendChild(el("span", { className: "badge role", text: msg("any-role") }));
      return wrap;
    }
    roles.forEach(function (role) {
      wrap.appendChild(el("span", { className: "badge role role-" + role, text: state.roles[role] || role }));
    });
    return wrap;
  }

  function field(param, opId) {
    var schema = resolve(param.schema);
    var id = "p-" + opId + "-" + param.name;
    var options = choices(param.schema);
    var input;
    if (options) {
      input = el("select", { id: id, name: param.name });
      input.appendChild(el("option", { value: "", text: schema["default"] !== undefined ? "(" + schema["default"] + ")" : "—" }));
      options.forEach(function (value) { input.appendChild(el("option", { value: String(value), text: String(value) })); });
    } else {
      var type = typeOf(schema);
      input = el("input", {
        id: id, name: param.name, type: type === "integer" ? "number" : "text",
        min: schema.minimum, max: schema.maximum, pattern: type === "integer" ? null : schema.pattern,
        placeholder: schema["default"] !== undefined ? String(schema["default"]) : (schema.format === "date" ? "YYYY-MM-DD" : null),
        required: param.required ? true : null, autocomplete: "off", spellcheck: "false",
      });
    }
    input.setAttribute("data-param", param.name);
    input.setAttribute("data-in", param["in"]);
    var label = el("label", { "for": id }, [
      el("code", { text: param.name }), " ",
      el("small", { className: "where", text: param["in"] }),
      param.required ? el("small", { className: "required", text: msg("required") }) : null,
    ]);
    return el("div", { className: "param in-" + param["in"] }, [label, input, param.description ? richText(param.description, "small") : null]);
  }

  function curlLine(method, url, body, needsToken, extra) {
    var parts = ["curl"];
    if (method !== "GET") { parts.push("-X " + method); }
    if (needsToken) { parts.push("-H 'Authorization: Bearer $GRIDLEDGER_TOKEN'"); }
    Object.keys(extra).forEach(function (name) { parts.push("-H '" + name + ": " + extra[name].replace(/'/g, "'\\''") + "'"); });
    if (body !== null) { parts.push("-H 'Content-Type: application/json'", "-d '" + body.replace(/'/g, "'\\''") + "'"); }
    parts.push("'" + url + "'");
    return parts.join(" ");
  }

  function card(entry) {
    var op = entry.op;
    var opId = op.operationId;
    var method = entry.method.toUpperCase();
    var needsToken = !(op.security && op.security.length === 0);
    var params = (op.parameters || []).map(resolve);
    var summaryText = state.summaries[opId] || op.summary || "";

    var details = el("details", { className: "op", id: "op-" + opId, "data-operation": opId });
    details.appendChild(el("summary", {}, [
      el("span", { className: "method method-" + entry.method, text: method }),
      el("code", { className: "op-path", text: entry.path }),
      el("span", { className: "op-summary", text: summaryText }),
      roleBadges(op),
    ]));

    var body = el("div", { className: "op-body" });
    (op.description || "").split(/\n\n+/).forEach(function (para) { body.appendChild(richText(para)); });

    var form = el("form", { className: "op-form", novalidate: true });
    if (params.length) {
      form.appendChild(el("h4", { text: msg("parameters") }));
      form.appendChild(el("div", { className: "params" }, params.map(function (p) { return field(p, opId); })));
    }
    var textarea = null;
    if (op.requestBody) {
      var media = (op.requestBody.content || {})["application/json"] || {};
      var example = media.example !== undefined ? JSON.stringify(media.example, null, 2) : "{}";
      textarea = el("textarea", { id: "body-" + opId, rows: String(Math.min(12, example.split("\n").length + 1)), spellcheck: "false", className: "op-json" });
      textarea.value = example;
      form.appendChild(el("label", { "for": "body-" + opId }, [el("h4", { text: msg("body") })]));
      form.appendChild(textarea);
    }
    var send = el("button", { type: "submit", className: "send", id: "send-" + opId, text: msg("send") });
    var problem = el("p", { className: "field-error", role: "alert", hidden: true });
    form.appendChild(el("div", { className: "op-actions" }, [send, problem]));
    body.appendChild(form);

    var result = el("section", { className: "op-result", hidden: true, "aria-live": "polite" });
    var statusLine = el("p", { className: "status-line" });
    var pre = el("pre", { className: "json", id: "response-" + opId, tabindex: "0" });
    var curlBox = el("details", { className: "curl" }, [el("summary", { text: msg("curl") }), el("pre", {}, [el("code", { className: "curl-line" })])]);
    result.appendChild(el("h4", { text: msg("response") }));
    result.appendChild(statusLine);
    result.appendChild(pre);
    result.appendChild(curlBox);
    body.appendChild(result);
    details.appendChild(body);

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      problem.hidden = true;
      var path = entry.path;
      var query = [];
      var extra = {};
      var missing = null;
      form.querySelectorAll("[data-param]").forEach(function (input) {
        var value = (input.value || "").trim();
        var name = input.getAttribute("data-param");
        if (input.getAttribute("data-in") === "path") {
          if (!value) { missing = missing || name; }
          path = path.replace("{" + name + "}", encodeURIComponent(value));
        } else if (input.getAttribute("data-in") === "header") {
          if (value) { extra[name] = value; }
        } else if (value) {
          query.push(encodeURIComponent(name) + "=" + encodeURIComponent(value));
        }
      });
      if (missing) { problem.textContent = msg("missing") + " " + missing; problem.hidden = false; return; }
      if (needsToken && !token()) { problem.textContent = msg("no-token"); problem.hidden = false; tokenInput.focus(); return; }
      var payload = null;
      if (textarea && textarea.value.trim()) {
        try { JSON.parse(textarea.value); } catch (error) {
          problem.textContent = msg("bad-json") + " " + error.message; problem.hidden = false; return;
        }
        payload = textarea.value;
      }
      var url = state.base + path + (query.length ? "?" + query.join("&") : "");
      var headers = Object.assign({ Accept: "application/json" }, extra);
      if (needsToken) { headers.Authorization = "Bearer " + token(); }
      if (payload !== null) { headers["Content-Type"] = "application/json"; }
      send.setAttribute("aria-busy", "true");
      send.textContent = msg("sending");
      var began = performance.now();
      fetch(url, { method: method, headers: headers, body: payload, credentials: "omit" })
        .then(function (response) {
          return response.text().then(function (text) { return [response, text]; });
        })
        .then(function (pair) {
          var response = pair[0], text = pair[1];
          var took = Math.round(performance.now() - began);
          statusLine.textContent = "";
          var kind = response.status < 300 ? "ok" : (response.status < 500 ? "warn" : "bad");
          statusLine.appendChild(el("span", { className: "badge status-code " + kind, id: "status-" + opId, text: String(response.status) }));
          statusLine.appendChild(el("span", { className: "status-text", text: " " + (response.statusText || "") }));
          statusLine.appendChild(el("span", { className: "muted took", text: " · " + took + " ms · " + (response.headers.get("Content-Type") || "") }));
          var challenge = response.headers.get("WWW-Authenticate");
          if (challenge) { statusLine.appendChild(el("code", { className: "challenge", text: "WWW-Authenticate: " + challenge })); }
          pre.textContent = "";
          var parsed;
          try { parsed = JSON.parse(text); } catch (error) { parsed = undefined; }
          if (parsed !== undefined) { pre.appendChild(jsonView(parsed)); }
          else { pre.appendChild(el("code", { text: text || msg("empty") })); }
          result.querySelector(".curl-line").textContent = curlLine(method, location.origin + url, payload, needsToken, extra);
          result.hidden = false;
        })
        .catch(function (error) {
          problem.textContent = msg("network") + " " + error; problem.hidden = false;
        })
        .then(function () { send.removeAttribute("aria-busy"); send.textContent = msg("send"); });
    });
    return details;
  }

  function build() {
    var list = operations();
    var container = document.getElementById("operations");
    var nav = document.getElementById("explorer-nav-list");
    var tagOrder = (state.spec.tags || []).map(function (t) { return t.name; });
    tagOrder.forEach(function (tag) {
      var mine = list.filter(function (entry) { return (entry.op.tags || [])[0] === tag; });
      if (!mine.length) { return; }
      var description = state.tagDescriptions[tag] ||
        ((state.spec.tags || []).filter(function (t) { return t.name === tag; })[0] || {}).description;
      var intro = description ? richText(description, "p") : null;
      if (intro) { intro.className = "muted group-description"; }
      var section = el("section", { className: "op-group", id: "group-" + tag.toLowerCase() }, [
        el("h2", { text: state.tags[tag] || tag }),
        intro,
      ]);
      var links = el("ul");
      mine.forEach(function (entry) {
        section.appendChild(card(entry));
        var link = el("a", { href: "#op-" + entry.op.operationId }, [
          el("span", { className: "method method-" + entry.method, text: entry.method.toUpperCase() }),
          " " + (state.summaries[entry.op.operationId] || entry.op.summary),
        ]);
        link.addEventListener("click", function () {
          var target = document.getElementById("op-" + entry.op.operationId);
          if (target) { target.open = true; }
        });
        links.appendChild(el("li", {}, [link]));
      });
      container.appendChild(section);
      nav.appendChild(el("li", {}, [el("a", { href: "#group-" + tag.toLowerCase(), className: "group-link", text: state.tags[tag] || tag }), links]));
    });
    var opened = location.hash && document.getElementById(location.hash.slice(1));
    if (opened && opened.tagName === "DETAILS") { opened.open = true; }
  }

  function start() {
    state.summaries = mapFrom("op-summaries", "data-op");
    state.tags = mapFrom("tag-names", "data-tag");
    state.tagDescriptions = {};
    document.querySelectorAll("#tag-names li").forEach(function (li) {
      state.tagDescriptions[li.getAttribute("data-tag")] = li.getAttribute("data-description");
    });
    state.roles = mapFrom("role-names", "data-role");
    var loading = document.getElementById("explorer-loading");
    fetch(root.getAttribute("data-spec-url"), { headers: { Accept: "application/json" }, credentials: "omit" })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status + " " + response.statusText); }
        return response.json();
      })
      .then(function (spec) {
        state.spec = spec;
        var server = ((spec.servers || [])[0] || {}).url || "";
        state.base = new URL(server, location.href).pathname.replace(/\/$/, "");
        build();
        loading.hidden = true;
        loading.removeAttribute("aria-busy");
        root.setAttribute("data-ready", "true");
      })
      .catch(function (error) {
        loading.hidden = true;
        var box = document.getElementById("explorer-error");
        box.textContent = msg("load-failed") + " (" + error.message + ")";
        box.hidden = false;
      });
  }

  start();
})();
