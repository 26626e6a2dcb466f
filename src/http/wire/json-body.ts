/**
 * What every JSON request body goes through, whatever its route: the media
 * type (application/json in UTF-8), then strict decoding — well-formed UTF-8,
 * exactly one JSON object, no field given twice at any level (JSON.parse
 * would keep the last), no lone surrogate — before the route's own zod
 * schema, whose issues are told with the field they are about.
 */
import contentType from 'content-type';
import type { RequestHandler } from 'express';
import typeIs from 'type-is';
import type { z } from 'zod';
import { firstJsonFlaw, type JsonFlaw } from './json-flaws.js';
import type { Responder } from './responses.js';

export type JsonObject =
  { readonly ok: true; readonly value: object } | { readonly ok: false; readonly message: string };

/** 415 unless the request says it sends JSON in UTF-8. */
export function requireJson(responder: Responder): RequestHandler {
  return (req, res, next) => {
    const problem = mediaTypeProblem(req.headers['content-type']);
    if (problem) responder.error(res, 'unsupported_media_type', problem);
    else next();
  };
}

/** Throws on bytes that are not UTF-8. One for every body: a decode that is not streamed keeps nothing. */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The one JSON object a raw body (the bytes as received) holds, or why it holds none. */
export function parseJsonObject(raw: Buffer | undefined): JsonObject {
  if (raw === undefined || raw.length === 0) return { ok: false, message: 'body is empty: expected one JSON object' };
  let text: string;
  try {
    text = STRICT_UTF8.decode(raw);
  } catch {
    return { ok: false, message: 'body is not valid UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `body is not valid JSON: ${(error as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      ok: false,
      message: `body must be one JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
    };
  }
  const flaw = firstJsonFlaw(text);
  if (flaw) return { ok: false, message: describeFlaw(flaw) };
  return { ok: true, value };
}

/** A schema's issues, each with the field it is about. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map(describeIssue).join('; ');
}

function describeFlaw({ kind, path }: JsonFlaw): string {
  return kind === 'duplicate_key'
    ? `duplicate field "${path}": each field may be given once`
    : `${path}: not well-formed Unicode (a lone surrogate escape, \\uD800-\\uDFFF without its pair)`;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `unknown field "${path ? `${path}.${key}` : key}"`).join('; ');
  }
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) return `${path}: required`;
  return `${path}: ${issue.message}`;
}

/** Why a Content-Type is not accepted, or undefined if it is application/json in UTF-8. */
function mediaTypeProblem(header: string | undefined): string | undefined {
  const expected = 'Content-Type must be application/json';
  if (!header) return `${expected}; none was given`;
  let parsed: contentType.ParsedMediaType;
  try {
    parsed = contentType.parse(header);
  } catch {
    return `${expected}; "${header}" is not a valid media type`;
  }
  if (typeIs.is(parsed.type, ['application/json']) === false) return `${expected}, got ${parsed.type}`;
  const charset = parsed.parameters['charset']?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')
    return `JSON must be UTF-8, got charset ${charset}`;
  return undefined;
}
