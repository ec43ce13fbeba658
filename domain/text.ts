/** Text every store keeps as given: PostgreSQL's text and jsonb refuse NUL and lone UTF-16 surrogates. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const isStorableText = (text: string) => !LONE_SURROGATE.test(text) && !text.includes('\u0000');

export const STORABLE_TEXT_MESSAGE = 'must be well-formed Unicode without NUL characters';
