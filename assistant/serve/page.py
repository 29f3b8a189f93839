"""The page around the chat: theme, style and the one script, all served from this server (works offline)."""

from __future__ import annotations

import hmac
from typing import Any

import gradio as gr

from assistant.settings import Settings

# A font bundled with Gradio (served by this server), then the system's; never a font from the web.
# Only its regular and bold faces: Gradio ships the semibold one as a few-glyph subset.
_FONTS = (gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)), "ui-sans-serif", "system-ui", "sans-serif")
_MONO = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace")

CSS = """
.app-header h1 { font-size: 1.35rem; margin: 0 0 .15rem; }
.app-header p { margin: 0; color: var(--body-text-color-subdued); }
#chat .answer, #chat .question { overflow-wrap: anywhere; }
#chat .abstention { border-left: 4px solid var(--neutral-400); padding: .1rem 0 .1rem .7rem;
  color: var(--body-text-color-subdued); overflow-wrap: anywhere; }
#chat .abstention-label { display: inline-block; margin-bottom: .3rem; padding: 0 .45rem; border-radius: 4px;
  font-size: .75rem; letter-spacing: .06em; text-transform: uppercase; font-style: normal;
  background: var(--neutral-200); color: var(--neutral-700); }
a.cite { font-weight: 600; text-decoration: none; white-space: nowrap; color: var(--color-accent); cursor: pointer; }
a.cite:hover, a.cite:focus { text-decoration: underline; }
#sources .sources-panel { max-height: 74vh; overflow-y: auto; padding-right: .25rem; }
.sources-for { font-weight: 600; margin: 0 0 .5rem; overflow-wrap: anywhere; }
.sources-empty { color: var(--body-text-color-subdued); margin: 0; }
.source-list { list-style: none; padding: 0; margin: 0; }
.sources-time { color: var(--body-text-color-subdued); margin: -.2rem 0 .5rem; font-size: .92em; }
.sources-nearest { color: var(--body-text-color-subdued); margin: .6rem 0 .5rem; font-size: .92em; }
.source-list.nearest .source { border-style: dashed; }
.source-list.nearest mark { background: var(--neutral-200); color: inherit; }
.source { border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg); padding: .55rem .75rem;
  margin: 0 0 .6rem; scroll-margin: .75rem; transition: box-shadow .3s; }
.source.flash { box-shadow: inset 0 0 0 2px var(--color-accent); border-color: var(--color-accent); }
.source-n { font-weight: 700; color: var(--color-accent); }
.source-title { font-weight: 600; overflow-wrap: anywhere; }
.source-meta { font-size: .85em; color: var(--body-text-color-subdued); margin: .1rem 0 .4rem;
  overflow-wrap: anywhere; }
#sources .sources-panel blockquote.source-passage { margin: 0; padding: 0 0 0 .6rem;
  border-left: 3px solid var(--border-color-primary);
  font-size: .92em; line-height: 1.45; overflow-wrap: anywhere; }
.source-passage mark { background: #fde68a; color: #1f2937; padding: 0 .1em; border-radius: 2px; }
details.earlier { margin-top: .75rem; }
details.earlier .sources-for { display: none; }
details.earlier > summary { cursor: pointer; color: var(--body-text-color-subdued); overflow-wrap: anywhere; }
.upload-result { margin: .25rem 0 0; overflow-wrap: anywhere; }
.upload-added { color: #15803d; }
.upload-refused { color: #b91c1c; }
@media (max-width: 720px) {
  #sources .sources-panel { max-height: none; }
  .app-header h1 { font-size: 1.15rem; }
}
"""

# Clicking [n] in an answer brings source n of that answer into view (unfolding an earlier answer's
# sources when needed) instead of following the link, and briefly outlines it.
HEAD = """
<script>
document.addEventListener("click", function (event) {
  var link = event.target instanceof Element ? event.target.closest("a.cite") : null;
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  var target = document.getElementById((link.getAttribute("href") || "").slice(1));
  if (!target) return;
  var fold = target.closest("details");
  if (fold) fold.open = true;
  // Beside the chat (wide screens) scroll the panel only as far as needed; below it (phones) bring the
  // source to the top of the screen.
  var beside = target.getBoundingClientRect().left >= link.getBoundingClientRect().right;
  target.scrollIntoView({behavior: "smooth", block: beside ? "nearest" : "start"});
  target.classList.remove("flash");
  void target.offsetWidth;
  target.classList.add("flash");
  setTimeout(function () { target.classList.remove("flash"); }, 1800);
}, true);
</script>
"""


def theme() -> gr.themes.Base:
    """The default Gradio theme with fonts that need no network."""
    return gr.themes.Default(font=_FONTS, font_mono=_MONO)


def page_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `gr.mount_gradio_app`: look, limits, and the sign-in when an API key is set."""
    options: dict[str, Any] = {
        "theme": theme(),
        "css": CSS,
        "head": HEAD,
        "ssr_mode": False,
        "mcp_server": False,
        "pwa": False,
        "footer_links": ["api"],
        "max_file_size": int(settings.max_upload_mb * 1024 * 1024),
    }
    if settings.api_key:
        key = settings.api_key
        options["auth"] = lambda user, password: hmac.compare_digest(password.encode(), key.encode())
        options["auth_message"] = "Sign in with any user name and the API key as the password."
    return options
