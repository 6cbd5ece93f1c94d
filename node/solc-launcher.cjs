#!/usr/bin/env node
// A drop-in for the native `solc` binary, backed by the pinned solc-js package.
//
// It speaks only what gridledger needs from a compiler, the way native solc does:
//   solc-launcher --version
//   solc-launcher --standard-json [--base-path DIR] [--include-path DIR]... [--allow-paths A,B]
// Standard JSON arrives on stdin and leaves on stdout. Imports are read from disk
// (after remapping, relative to the base path, then the include paths), and only
// from inside the allowed directories, as native solc does.
"use strict";

const fs = require("fs");
const path = require("path");

function fail(message) {
  process.stderr.write(`solc-launcher: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, basePath: process.cwd(), includePaths: [], allowPaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--version") opts.version = true;
    else if (arg === "--standard-json") opts.standardJson = true;
    else if (arg === "--base-path") opts.basePath = path.resolve(value());
    else if (arg === "--include-path") opts.includePaths.push(path.resolve(value()));
    else if (arg === "--allow-paths") opts.allowPaths.push(...value().split(",").filter(Boolean).map((p) => path.resolve(p)));
    else fail(`unsupported option ${arg}: only --version and --standard-json are implemented`);
  }
  return opts;
}

function loadSolc(opts) {
  const searchFrom = [opts.basePath, process.cwd(), __dirname];
  try {
    return require(require.resolve("solc", { paths: searchFrom }));
  } catch (err) {
    fail(`the npm package 'solc' was not found from ${searchFrom.join(", ")}; run 'npm ci' in the project folder`);
  }
}

function isInside(file, dir) {
  const rel = path.relative(dir, file);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function makeImportCallback(opts) {
  const roots = [opts.basePath, ...opts.includePaths];
  const allowed = [...roots, ...opts.allowPaths];
  return (sourceUnitName) => {
    for (const root of roots) {
      const file = path.resolve(root, sourceUnitName);
      if (!allowed.some((dir) => isInside(file, dir))) continue;
      if (fs.existsSync(file)) return { contents: fs.readFileSync(file, "utf8") };
    }
    return { error: `File not found inside the allowed paths: ${sourceUnitName}` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const solc = loadSolc(opts);
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!opts.standardJson) fail("nothing to do: pass --version or --standard-json");
  const input = fs.readFileSync(0, "utf8");
  process.stdout.write(solc.compile(input, { import: makeImportCallback(opts) }));
}

main();
