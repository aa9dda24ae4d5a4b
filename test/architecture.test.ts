import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * Dependency direction of src/. The layer of a file is the first directory under src/.
 *
 *   common    -> nothing in the project; no npm packages either, only node: builtins
 *   orm       -> common
 *   controller-> common, orm
 *   graph     -> common, orm, controller
 *   satellite -> common only; none of the controller's database/API packages
 *   bin       -> anything
 *
 * Every layer may import its own files. The checker is a pure function over a map of (path relative to the project
 * root, '/'-separated) -> source text, so it is tested on synthetic inputs as well as run over the real tree.
 */

const LAYERS = ['common', 'orm', 'controller', 'graph', 'satellite', 'bin'] as const;
type Layer = (typeof LAYERS)[number];

/** Project layers each layer may import, besides itself. `'*'` means any. */
const ALLOWED_LAYERS: Record<Layer, readonly Layer[] | '*'> = {
  common: [],
  orm: ['common'],
  controller: ['common', 'orm'],
  graph: ['common', 'orm', 'controller'],
  satellite: ['common'],
  bin: '*',
};

/** npm packages a layer must not import: exact package names, or scopes written as '@scope/*'. */
const FORBIDDEN_PACKAGES: Partial<Record<Layer, readonly string[]>> = {
  satellite: ['@mikro-orm/*', 'graphql', '@apollo/*', '@pothos/*'],
};

/** Layers that may import no npm package at all, only `node:` builtins. */
const NO_PACKAGES: ReadonlySet<Layer> = new Set<Layer>(['common']);

interface ImportRef {
  /** The module specifier as written. */
  specifier: string;
  /** 1-based line of the import. */
  line: number;
  kind: 'import' | 'import type' | 'export from' | 'side-effect import' | 'dynamic import' | 'import type()' | 'require';
}

interface Violation {
  file: string;
  line: number;
  specifier: string;
  rule: string;
}

/**
 * All module specifiers `source` refers to: static imports (also `import type`), `export ... from`, side-effect
 * imports, `import x = require()`, `require()` and `import()` calls, and `import('...')` types. Only string literal
 * specifiers can be checked; a computed `import(expr)` is not reported.
 */
function collectImports(fileName: string, source: string): ImportRef[] {
  const scriptKind = fileName.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, scriptKind);
  const refs: ImportRef[] = [];
  const add = (node: ts.Node, literal: ts.Node | undefined, kind: ImportRef['kind']): void => {
    if (literal && (ts.isStringLiteral(literal) || ts.isNoSubstitutionTemplateLiteral(literal))) {
      refs.push({ specifier: literal.text, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, kind });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      add(node, node.moduleSpecifier, !clause ? 'side-effect import' : clause.isTypeOnly ? 'import type' : 'import');
    } else if (ts.isExportDeclaration(node)) {
      add(node, node.moduleSpecifier, 'export from');
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression, 'require');
    } else if (ts.isCallExpression(node)) {
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node, node.arguments[0], 'dynamic import');
      else if (ts.isIdentifier(node.expression) && node.expression.text === 'require') add(node, node.arguments[0], 'require');
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal, 'import type()');
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return refs;
}

/** The layer of a path relative to the project root, e.g. `src/orm/x.ts` -> `orm`; undefined outside the layers. */
function layerOf(file: string): Layer | undefined {
  const parts = path.posix.normalize(file).split('/');
  if (parts[0] !== 'src' || parts.length < 3) return undefined;
  return (LAYERS as readonly string[]).includes(parts[1]!) ? (parts[1] as Layer) : undefined;
}

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function matchesPackage(pkg: string, pattern: string): boolean {
  return pattern.endsWith('/*') ? pkg.startsWith(pattern.slice(0, -1)) : pkg === pattern;
}

/**
 * Resolves a relative specifier of `file` to a project path. Specifiers name the compiled `.js`/`.jsx` file; the
 * source is the `.ts`/`.tsx` file of the same name, whichever exists in `files` (`.ts` when neither does).
 */
function resolveRelative(file: string, specifier: string, files: ReadonlyMap<string, string>): string {
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
  const m = /^(.*)\.(m?js|jsx)$/.exec(target);
  if (!m) return target;
  const candidates = m[2] === 'jsx' ? [`${m[1]}.tsx`] : [`${m[1]}.ts`, `${m[1]}.tsx`, `${m[1]}.mts`];
  return candidates.find((c) => files.has(c)) ?? candidates[0]!;
}

function describeAllowed(layer: Layer): string {
  const allowed = ALLOWED_LAYERS[layer];
  if (allowed === '*') return 'anything';
  return allowed.length === 0 ? `only its own files` : `only ${allowed.join(', ')} and its own files`;
}

/** Checks every file in `files` (project-relative path -> source) and returns the imports that break the rules. */
function findViolations(files: ReadonlyMap<string, string>): Violation[] {
  const violations: Violation[] = [];
  for (const [file, source] of files) {
    if (!/\.tsx?$/.test(file) || file.endsWith('.d.ts')) continue;
    const layer = layerOf(file);
    if (!layer) {
      violations.push({
        file,
        line: 1,
        specifier: '',
        rule: `file is not in a known layer (${LAYERS.join(', ')}); add the layer and its rules to the architecture test`,
      });
      continue;
    }
    for (const ref of collectImports(file, source)) {
      const report = (rule: string): void => {
        violations.push({ file, line: ref.line, specifier: ref.specifier, rule });
      };
      const { specifier } = ref;
      if (specifier.startsWith('.') || specifier.startsWith('/')) {
        if (specifier.startsWith('/')) {
          report('absolute import paths are not allowed; use a relative specifier');
          continue;
        }
        const target = resolveRelative(file, specifier, files);
        const targetLayer = layerOf(target);
        const allowed = ALLOWED_LAYERS[layer];
        if (allowed === '*') continue;
        if (!targetLayer) {
          report(`${layer} may import ${describeAllowed(layer)}, not ${target} outside the layers of src/`);
        } else if (targetLayer !== layer && !allowed.includes(targetLayer)) {
          report(`${layer} may import ${describeAllowed(layer)}, not ${targetLayer} (${target})`);
        }
        continue;
      }
      if (specifier.startsWith('node:')) continue;
      const pkg = packageName(specifier);
      if (NO_PACKAGES.has(layer)) {
        const hint = isBuiltin(specifier) ? ` (write 'node:${specifier}' for the builtin)` : '';
        report(`${layer} may import only node: builtins and its own files, not the package '${pkg}'${hint}`);
        continue;
      }
      const forbidden = (FORBIDDEN_PACKAGES[layer] ?? []).find((p) => matchesPackage(pkg, p));
      if (forbidden) report(`${layer} must not import ${forbidden} (package '${pkg}')`);
    }
  }
  return violations.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
}

function formatViolations(violations: readonly Violation[]): string {
  return violations
    .map((v) => `${v.file}:${v.line}: ${v.specifier ? `import '${v.specifier}'` : '(file)'}: ${v.rule}`)
    .join('\n');
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every .ts/.tsx file under src/, keyed by its '/'-separated path relative to the project root. */
function readSourceTree(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(rel);
      else if (entry.isFile() && /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) {
        files.set(rel, readFileSync(path.join(ROOT, rel), 'utf8'));
      }
    }
  };
  walk('src');
  return files;
}

const check = (files: Record<string, string>): Violation[] => findViolations(new Map(Object.entries(files)));

describe('import collection', () => {
  it('finds every kind of import with its line', () => {
    const source = [
      "import a from './a.js';",
      "import type { B } from './b.js';",
      "import { type C, d } from './c.js';",
      "export { e } from './e.js';",
      "export * from './f.js';",
      "export type { G } from './g.js';",
      "import './side-effect.js';",
      'import {',
      '  h,',
      "} from './multi-line.js';",
      'async function load() {',
      "  return import('./dynamic.js');",
      '}',
      "type T = typeof import('./type-import.js');",
      'const x = import(`./template.js`);',
    ].join('\n');
    expect(collectImports('src/x.ts', source).map((r) => [r.specifier, r.line, r.kind])).toEqual([
      ['./a.js', 1, 'import'],
      ['./b.js', 2, 'import type'],
      ['./c.js', 3, 'import'],
      ['./e.js', 4, 'export from'],
      ['./f.js', 5, 'export from'],
      ['./g.js', 6, 'export from'],
      ['./side-effect.js', 7, 'side-effect import'],
      ['./multi-line.js', 8, 'import'],
      ['./dynamic.js', 12, 'dynamic import'],
      ['./type-import.js', 14, 'import type()'],
      ['./template.js', 15, 'dynamic import'],
    ]);
  });

  it('ignores imports inside comments and strings, and computed dynamic imports', () => {
    const source = [
      "// import x from '../graph/a.js';",
      "/* export * from '../graph/b.js'; */",
      "const s = \"import y from '../graph/c.js'\";",
      'const name = "../graph/d.js";',
      'void import(name);',
    ].join('\n');
    expect(collectImports('src/x.ts', source)).toEqual([]);
  });

  it('parses .tsx files', () => {
    const source = "import { createRoot } from 'react-dom/client';\nexport const App = () => <div className=\"x\" />;\n";
    expect(collectImports('src/bin/ui.tsx', source).map((r) => r.specifier)).toEqual(['react-dom/client']);
  });
});

describe('findViolations (the checker itself)', () => {
  it('accepts imports that follow the direction', () => {
    expect(
      check({
        'src/common/a.ts': "import { b } from './b.js';\nimport { join } from 'node:path';\n",
        'src/common/b.ts': "import type { c } from './props/c.js';\nexport const b = 1;\n",
        'src/common/props/c.ts': "import { a } from '../a.js';\n",
        'src/orm/x.ts': "import { a } from '../common/a.js';\nimport { Entity } from '@mikro-orm/core';\n",
        'src/controller/s.ts': "import { x } from '../orm/x.js';\nimport { a } from '../common/a.js';\n",
        'src/graph/g.ts': "import { s } from '../controller/s.js';\nimport { x } from '../orm/x.js';\nimport 'graphql';\n",
        'src/satellite/agent.ts': "import { a } from '../common/a.js';\nimport { execa } from 'execa';\nimport pino from 'pino';\n",
        'src/bin/main.ts': "import { g } from '../graph/g.js';\nimport { agent } from '../satellite/agent.js';\n",
      }),
    ).toEqual([]);
  });

  it('catches an orm file importing graph', () => {
    expect(check({ 'src/orm/x.ts': "import { y } from '../graph/y.js';\n", 'src/graph/y.ts': '' })).toEqual([
      {
        file: 'src/orm/x.ts',
        line: 1,
        specifier: '../graph/y.js',
        rule: 'orm may import only common and its own files, not graph (src/graph/y.ts)',
      },
    ]);
  });

  it('catches a satellite file importing @mikro-orm/core', () => {
    expect(check({ 'src/satellite/agent.ts': "\nimport { MikroORM } from '@mikro-orm/core';\n" })).toEqual([
      {
        file: 'src/satellite/agent.ts',
        line: 2,
        specifier: '@mikro-orm/core',
        rule: "satellite must not import @mikro-orm/* (package '@mikro-orm/core')",
      },
    ]);
  });

  it('catches a common file importing graphql', () => {
    expect(check({ 'src/common/x.ts': "import { GraphQLError } from 'graphql';\n" })).toEqual([
      {
        file: 'src/common/x.ts',
        line: 1,
        specifier: 'graphql',
        rule: "common may import only node: builtins and its own files, not the package 'graphql'",
      },
    ]);
  });

  it('refuses every npm package in common, and builtins without the node: prefix', () => {
    const found = check({
      'src/common/x.ts': "import pino from 'pino';\nimport { a } from '@scope/pkg/sub';\nimport fs from 'fs';\nimport 'node:fs';\n",
    });
    expect(found.map((v) => [v.line, v.specifier])).toEqual([
      [1, 'pino'],
      [2, '@scope/pkg/sub'],
      [3, 'fs'],
    ]);
    expect(found[1]!.rule).toContain("the package '@scope/pkg'");
    expect(found[2]!.rule).toContain("write 'node:fs'");
  });

  it('refuses every project import out of common', () => {
    const found = check({
      'src/common/x.ts': [
        "import type { E } from '../orm/entities/node.js';",
        "export { s } from '../controller/s.js';",
        "import '../graph/schema.js';",
        "const m = await import('../satellite/agent.js');",
      ].join('\n'),
    });
    expect(found.map((v) => [v.line, v.specifier])).toEqual([
      [1, '../orm/entities/node.js'],
      [2, '../controller/s.js'],
      [3, '../graph/schema.js'],
      [4, '../satellite/agent.js'],
    ]);
    expect(found.every((v) => v.rule.startsWith('common may import only its own files'))).toBe(true);
  });

  it('checks type-only imports, re-exports, side-effect and dynamic imports like any other', () => {
    const found = check({
      'src/controller/s.ts': [
        "import type { Builder } from '../graph/builder.js';",
        "export * from '../graph/types/node.js';",
        "import '../graph/server.js';",
        "const g = await import('../graph/schema.js');",
        "type S = typeof import('../graph/schema.js');",
      ].join('\n'),
    });
    expect(found.map((v) => v.line)).toEqual([1, 2, 3, 4, 5]);
    expect(found.every((v) => v.rule.startsWith('controller may import only common, orm and its own files, not graph'))).toBe(
      true,
    );
  });

  it('keeps satellite away from orm, controller, graph and the API and database packages', () => {
    const found = check({
      'src/satellite/agent.ts': [
        "import { x } from '../orm/x.js';",
        "import { s } from '../controller/s.js';",
        "import { g } from '../graph/g.js';",
        "import { graphql } from 'graphql';",
        "import { parse } from 'graphql/language/index.js';",
        "import { ApolloServer } from '@apollo/server';",
        "import SchemaBuilder from '@pothos/core';",
        "import { PostgreSqlDriver } from '@mikro-orm/postgresql';",
        "import { a } from '../common/a.js';",
        "import { createClient } from 'graphql-ws';",
      ].join('\n'),
    });
    expect(found.map((v) => v.line)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('lets graph import the lower layers but not satellite or bin', () => {
    const found = check({
      'src/graph/g.ts': "import { a } from '../satellite/a.js';\nimport { main } from '../bin/controller.js';\n",
    });
    expect(found.map((v) => v.rule)).toEqual([
      'graph may import only common, orm, controller and its own files, not satellite (src/satellite/a.ts)',
      'graph may import only common, orm, controller and its own files, not bin (src/bin/controller.ts)',
    ]);
  });

  it('refuses orm importing controller, and lets bin import anything', () => {
    expect(check({ 'src/orm/x.ts': "import { s } from '../controller/s.js';\n" })).toHaveLength(1);
    expect(
      check({
        'src/bin/x.ts':
          "import '../common/a.js';\nimport '../orm/b.js';\nimport '../controller/c.js';\nimport '../graph/d.js';\nimport '../satellite/e.js';\nimport '../../scripts/f.js';\nimport '@mikro-orm/core';\n",
      }),
    ).toEqual([]);
  });

  it('resolves relative specifiers from nested directories to .ts and .tsx files', () => {
    const files = {
      'src/controller/services/node.ts': "import { N } from '../../orm/entities/node.js';\nimport { U } from '../../graph/ui/entry.js';\n",
      'src/graph/ui/entry.tsx': '',
    };
    expect(check(files)).toEqual([
      {
        file: 'src/controller/services/node.ts',
        line: 2,
        specifier: '../../graph/ui/entry.js',
        rule: 'controller may import only common, orm and its own files, not graph (src/graph/ui/entry.tsx)',
      },
    ]);
  });

  it('does not take a layer from a directory name deeper down, nor from an import that only looks like one', () => {
    const found = check({
      // src/controller/graph/ is still the controller layer
      'src/controller/graph/x.ts': "import { y } from '../services/y.js';\n",
      // ../graph/ from src/orm/common/ is src/orm/graph/, the orm layer itself
      'src/orm/common/z.ts': "import { w } from '../graph/w.js';\n",
      // climbing out of the layer and back into graph is caught
      'src/orm/entities/e.ts': "import { w } from '../../orm/../graph/w.js';\n",
    });
    expect(found.map((v) => [v.file, v.specifier])).toEqual([['src/orm/entities/e.ts', '../../orm/../graph/w.js']]);
  });

  it('refuses imports that leave src/ and files outside the known layers', () => {
    const found = check({
      'src/controller/s.ts': "import { t } from '../../test/support/x.js';\n",
      'src/index.ts': "export * from './bin/controller.js';\n",
      'src/tools/t.ts': '',
    });
    expect(found.map((v) => [v.file, v.specifier])).toEqual([
      ['src/controller/s.ts', '../../test/support/x.js'],
      ['src/index.ts', ''],
      ['src/tools/t.ts', ''],
    ]);
    expect(found[0]!.rule).toContain('outside the layers of src/');
  });

  it('formats violations as file:line, import and rule', () => {
    expect(formatViolations(check({ 'src/orm/x.ts': "\n\nimport '../graph/y.js';\n" }))).toBe(
      "src/orm/x.ts:3: import '../graph/y.js': orm may import only common and its own files, not graph (src/graph/y.ts)",
    );
  });
});

describe('the real src/ tree', () => {
  const files = readSourceTree();

  it('is found and its imports are seen', () => {
    expect(files.size).toBeGreaterThan(10);
    expect(files.has('src/common/names.ts')).toBe(true);
    const imports = [...files].flatMap(([file, source]) => collectImports(file, source));
    expect(imports.length).toBeGreaterThan(100);
    expect(imports.some((r) => r.specifier === '../common/api-rc.js')).toBe(true);
  });

  it('would report a violation added to it', () => {
    const tampered = new Map(files);
    tampered.set('src/common/names.ts', `import { GraphQLError } from 'graphql';\n${files.get('src/common/names.ts')}`);
    tampered.set('src/orm/tampered.ts', "import { schema } from '../graph/schema.js';\n");
    expect(findViolations(tampered).map((v) => [v.file, v.specifier])).toEqual([
      ['src/common/names.ts', 'graphql'],
      ['src/orm/tampered.ts', '../graph/schema.js'],
    ]);
  });

  it('keeps the dependency direction', () => {
    const violations = findViolations(files);
    if (violations.length > 0) {
      throw new Error(`${violations.length} import(s) break the dependency direction:\n${formatViolations(violations)}`);
    }
  });
});
