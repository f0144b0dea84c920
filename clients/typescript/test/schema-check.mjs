// Compare the interfaces of src/types.ts with the OpenAPI document's component schemas of the same name.
// Parsed with the TypeScript compiler API (a dev dependency), so the check reads the real declarations.
import ts from "typescript";

/** The kinds a TypeScript type node allows: "string", "number", "boolean", "null", "array", "object",
 *  "ref:Name", or literal values ("lit:..."). Unions are flattened. */
function tsKinds(node, aliases) {
  switch (node.kind) {
    case ts.SyntaxKind.StringKeyword: return ["string"];
    case ts.SyntaxKind.NumberKeyword: return ["number"];
    case ts.SyntaxKind.BooleanKeyword: return ["boolean"];
    case ts.SyntaxKind.UnknownKeyword: return ["any"];
    case ts.SyntaxKind.LiteralType:
      if (node.literal.kind === ts.SyntaxKind.NullKeyword) return ["null"];
      return [`lit:${node.literal.text}`];
    case ts.SyntaxKind.UnionType: return node.types.flatMap((t) => tsKinds(t, aliases));
    case ts.SyntaxKind.ArrayType: return ["array"];
    case ts.SyntaxKind.ParenthesizedType: return tsKinds(node.type, aliases);
    case ts.SyntaxKind.TypeLiteral: return ["object"];
    case ts.SyntaxKind.TypeReference: {
      const name = node.typeName.getText();
      if (name === "Record") return ["object"];
      if (name === "Array") return ["array"];
      if (aliases.has(name)) return tsKinds(aliases.get(name), aliases);
      return [`ref:${name}`];
    }
    default: return [`unknown:${ts.SyntaxKind[node.kind]}`];
  }
}

/** The same kinds for an OpenAPI schema (anyOf flattened, enums as literals, integers as numbers). */
function schemaKinds(schema) {
  if (schema.$ref) return [`ref:${schema.$ref.split("/").pop()}`];
  if (schema.anyOf) return schema.anyOf.flatMap(schemaKinds);
  if (schema.enum) return schema.enum.map((v) => `lit:${v}`);
  if (schema.const !== undefined) return [`lit:${schema.const}`];
  switch (schema.type) {
    case "integer": case "number": return ["number"];
    case "string": return ["string"];
    case "boolean": return ["boolean"];
    case "null": return ["null"];
    case "array": return ["array"];
    case "object": return ["object"];
    case undefined: return ["any"];
    default: return [schema.type];
  }
}

/** Interfaces (name -> {prop -> {optional, kinds}}) declared in TypeScript source text. */
export function interfacesOf(source) {
  const file = ts.createSourceFile("types.ts", source, ts.ScriptTarget.ES2022, true);
  const aliases = new Map();
  const found = new Map();
  for (const statement of file.statements) {
    if (ts.isTypeAliasDeclaration(statement)) aliases.set(statement.name.text, statement.type);
  }
  for (const statement of file.statements) {
    if (!ts.isInterfaceDeclaration(statement)) continue;
    const props = new Map();
    for (const member of statement.members) {
      if (!ts.isPropertySignature(member) || !member.type) continue;
      props.set(member.name.getText(), { optional: Boolean(member.questionToken), kinds: tsKinds(member.type, aliases) });
    }
    found.set(statement.name.text, props);
  }
  return found;
}

const same = (a, b) => a.length === b.length && [...a].sort().every((v, i) => v === [...b].sort()[i]);

/** Every difference between the TypeScript interfaces and the schemas, as readable lines (empty: they agree).
 *  `requests` names the interfaces sent to the server: their optional properties must be exactly the
 *  schema's non-required ones; in responses the server sends defaulted fields too, so they may be required. */
export function differences(source, openapi, requests) {
  const schemas = openapi.components.schemas;
  const problems = [];
  for (const [name, props] of interfacesOf(source)) {
    const schema = schemas[name];
    if (!schema) { problems.push(`${name}: no schema of that name in the OpenAPI document`); continue; }
    const required = new Set(schema.required ?? []);
    const wanted = Object.keys(schema.properties ?? {});
    for (const key of wanted) if (!props.has(key)) problems.push(`${name}.${key}: in the schema, missing in TypeScript`);
    for (const [key, prop] of props) {
      const property = schema.properties?.[key];
      if (!property) { problems.push(`${name}.${key}: not in the schema`); continue; }
      if (requests.has(name) ? prop.optional === required.has(key) : prop.optional && required.has(key)) {
        problems.push(`${name}.${key}: ${prop.optional ? "optional" : "required"} in TypeScript, ` +
          `${required.has(key) ? "required" : "optional"} in the schema`);
      }
      const expected = schemaKinds(property);
      if (!expected.includes("any") && !prop.kinds.includes("any") && !same(prop.kinds, expected)) {
        problems.push(`${name}.${key}: TypeScript allows ${prop.kinds.join(" | ")}, the schema ${expected.join(" | ")}`);
      }
    }
  }
  return problems;
}
