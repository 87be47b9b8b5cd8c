// The official openai npm SDK against the stack's /v1/responses: create, stream, a tool round trip with
// previous_response_id, an unknown id. Prints one JSON object for tests/router/test_node_sdk.py.
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY, maxRetries: 0 });
const model = "claude-sonnet-4.5";
const weather = {
  type: "function",
  name: "get_weather",
  description: "Current weather for a city.",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: false,
};

const created = await client.responses.create({ model, input: "node plain", instructions: "Brief." });

const stream = client.responses.stream({ model, input: process.env.TOOL_PROMPT, tools: [weather] });
const kinds = [];
const deltas = [];
stream.on("event", (event) => kinds.push(event.type));
stream.on("response.output_text.delta", (event) => deltas.push(event.delta));
const streamed = await stream.finalResponse();
const call = streamed.output.find((item) => item.type === "function_call");

const followUp = await client.responses.create({
  model,
  previous_response_id: streamed.id,
  tools: [weather],
  input: [{ type: "function_call_output", call_id: call.call_id, output: "sunny" }],
});

let missing = null;
try {
  await client.responses.create({ model, input: "x", previous_response_id: "resp_missing" });
} catch (error) {
  missing = { status: error.status, code: error.code, param: error.param };
}

console.log(
  JSON.stringify({
    created: { text: created.output_text, status: created.status, total: created.usage.total_tokens },
    streamed: { text: streamed.output_text, deltas, kinds, call: { name: call.name, arguments: call.arguments } },
    followUp: followUp.output_text,
    missing,
  }),
);
