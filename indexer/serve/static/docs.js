// Renders /openapi.json as a page: every path, its parameters and answers, with an example link.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function schemaText(schema) {
  if (!schema) return "";
  if (schema.enum) return schema.enum.join(" | ");
  if (schema.type === "array") return "repeat, or a,b";
  const range = schema.minimum !== undefined ? ` ${schema.minimum}..${schema.maximum}` : "";
  return (schema.type || "") + range;
}

async function render() {
  const doc = await (await fetch("/openapi.json")).json();
  const main = document.getElementById("endpoints");
  main.replaceChildren();
  main.append(el("p", {}, `${doc.info.title} ${doc.info.version}: ${doc.info.description}`));
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const section = el("section", { class: "endpoint", id: path });
      section.append(el("h2", {}, `${method.toUpperCase()} ${path}`), el("p", {}, op.summary));
      const params = op.parameters || [];
      if (params.length) {
        const table = el("table", {}, el("tr", {}, el("th", {}, "parameter"),
          el("th", {}, "in"), el("th", {}, "accepts"), el("th", {}, "meaning")));
        for (const p of params) {
          table.append(el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in),
            el("td", {}, schemaText(p.schema)), el("td", {}, p.description || "")));
        }
        section.append(table);
      }
      const answers = el("ul");
      for (const [status, answer] of Object.entries(op.responses)) {
        answers.append(el("li", {}, el("code", {}, status), " ", answer.description));
      }
      section.append(answers);
      if (!path.includes("{")) {
        const example = path === "/api/search" ? "/api/search?q=engineer&size=3"
          : path === "/api/suggest" ? "/api/suggest?q=soft" : path;
        section.append(el("p", {}, "Try: ", el("a", { href: example }, example)));
      }
      main.append(section);
    }
  }
}

render().catch((error) => {
  document.getElementById("endpoints").textContent = `Could not load /openapi.json: ${error}`;
});
