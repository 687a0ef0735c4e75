import type { FastifyRequest } from 'fastify';

/**
 * Whether a request comes from one of OpenAI's SDKs, on the paths both APIs share: every
 * official OpenAI SDK sends `User-Agent: OpenAI/<language> <version>` (`AzureOpenAI/…` for
 * its Azure client), and Mistral's SDK sends its own (`speakeasy-sdk/typescript …
 * @mistralai/mistralai`). Such a client gets OpenAI's behaviour: its errors in OpenAI's shape, and a
 * batch file it uploads kept even with invalid lines, which then fail its batch at
 * validation with line-numbered errors, as OpenAI does.
 */
export const isOpenAiClient = (req: FastifyRequest) => /^(Azure)?OpenAI\//.test(req.headers['user-agent'] ?? '');
