/**
 * Blob service properties (Get/Set Blob Service Properties): the XML document, kept per top-level
 * element so a Set that omits an element keeps its value (as the service does), with the
 * defaults a new account has, and the StaticWebsite settings the web endpoint serves from.
 */
import { SandboxHttpError } from "../types";

export interface StaticWebsite {
  enabled: boolean;
  indexDocument?: string;
  errorDocument404Path?: string;
  defaultIndexDocumentPath?: string;
}

const ORDER = [
  "Logging",
  "HourMetrics",
  "MinuteMetrics",
  "Cors",
  "DefaultServiceVersion",
  "DeleteRetentionPolicy",
  "StaticWebsite",
];

export const DEFAULT_SERVICE_PROPERTIES: Record<string, string> = {
  Logging:
    "<Logging><Version>1.0</Version><Read>false</Read><Write>false</Write><Delete>false</Delete><RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></Logging>",
  HourMetrics:
    "<HourMetrics><Version>1.0</Version><Enabled>true</Enabled><IncludeAPIs>true</IncludeAPIs><RetentionPolicy><Enabled>true</Enabled><Days>7</Days></RetentionPolicy></HourMetrics>",
  MinuteMetrics:
    "<MinuteMetrics><Version>1.0</Version><Enabled>false</Enabled><RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></MinuteMetrics>",
  Cors: "<Cors />",
  DeleteRetentionPolicy: "<DeleteRetentionPolicy><Enabled>false</Enabled></DeleteRetentionPolicy>",
  StaticWebsite: "<StaticWebsite><Enabled>false</Enabled></StaticWebsite>",
};

export function renderServiceProperties(sections: Record<string, string>): string {
  return `<?xml version="1.0" encoding="utf-8"?><StorageServiceProperties>${ORDER.filter((name) => sections[name])
    .map((name) => sections[name])
    .join("")}</StorageServiceProperties>`;
}

const invalidXml = () => new SandboxHttpError(400, "InvalidXmlDocument", "XML specified is not syntactically valid.");
const invalidNode = (node: string) =>
  new SandboxHttpError(
    400,
    "InvalidXmlNodeValue",
    `The value for one of the XML nodes is not in the correct format.\nXmlNodeName:${node}`,
  );

/** Parse a Set Blob Service Properties body into top-level sections; refuses what is not that document. */
export function parseServiceProperties(xml: string): Record<string, string> {
  const body = /^\s*(<\?xml[^>]*\?>)?\s*<StorageServiceProperties>([\s\S]*)<\/StorageServiceProperties>\s*$/.exec(
    xml,
  )?.[2];
  if (body === undefined) throw invalidXml();
  const sections: Record<string, string> = {};
  const element = /<(\w+)(\s*\/>|>([\s\S]*?)<\/\1>)/g;
  let rest = body;
  for (let match = element.exec(body); match; match = element.exec(body)) {
    if (!ORDER.includes(match[1]))
      throw new SandboxHttpError(
        400,
        "InvalidXmlNodeValue",
        `The value for one of the XML nodes is not in the correct format.\nXmlNodeName:${match[1]}`,
      );
    sections[match[1]] = match[0];
    rest = rest.replace(match[0], "");
  }
  if (rest.trim()) throw invalidXml();
  if (sections.StaticWebsite) parseStaticWebsite(sections.StaticWebsite);
  return sections;
}

export function parseStaticWebsite(section: string): StaticWebsite {
  const field = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(section)?.[1];
  const enabled = field("Enabled");
  if (enabled !== "true" && enabled !== "false") throw invalidNode("Enabled");
  const site: StaticWebsite = {
    enabled: enabled === "true",
    indexDocument: field("IndexDocument"),
    errorDocument404Path: field("ErrorDocument404Path"),
    defaultIndexDocumentPath: field("DefaultIndexDocumentPath"),
  };
  // An index document per directory, or one default page for every path: not both.
  if (site.indexDocument && site.defaultIndexDocumentPath) throw invalidNode("DefaultIndexDocumentPath");
  return site;
}
