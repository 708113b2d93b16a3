// OpenAI request parsing and validation (src/serve/openai_api.h) and the chat
// template, on strings alone: every accepted shape, and every rejection
// naming the param at fault with a 400.
#include <gtest/gtest.h>

#include <string>

#include "serve/chat_template.h"
#include "serve/openai_api.h"

using namespace tessera::serve;
using api::ApiError;
using nlohmann::json;

namespace {

// The ApiError a body raises (fails the test when it parses).
ApiError completion_error(const std::string& body) {
  try {
    api::parse_completion_request(body);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << body;
  return ApiError(0, "");
}

ApiError chat_error(const std::string& body) {
  try {
    api::parse_chat_request(body);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << body;
  return ApiError(0, "");
}

std::string with(const std::string& extra) { return "{\"model\":\"m\",\"prompt\":\"hi\"" + extra + "}"; }
std::string chat_with(const std::string& extra) {
  return "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]" + extra + "}";
}

}  // namespace

TEST(OpenAIApi, CompletionDefaultsAndFields) {
  auto r = api::parse_completion_request(with(""));
  EXPECT_FALSE(r.chat);
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.prompt_text, "hi");
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_EQ(r.temperature, 1.0);
  EXPECT_EQ(r.top_p, 1.0);
  EXPECT_EQ(r.n, 1);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.seed.has_value());

  r = api::parse_completion_request(
      with(",\"max_tokens\":7,\"temperature\":0,\"top_p\":0.5,\"top_k\":3,\"seed\":-1,\"stop\":[\"a\",\"b\"],"
           "\"n\":8,\"stream\":true,\"stream_options\":{\"include_usage\":true},\"user\":\"u\",\"echo\":false,"
           "\"best_of\":1,\"logprobs\":null,\"frequency_penalty\":0,\"presence_penalty\":0.0,\"logit_bias\":{}"));
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_EQ(r.temperature, 0.0);
  EXPECT_EQ(r.top_p, 0.5);
  EXPECT_EQ(r.top_k, 3);
  EXPECT_EQ(r.seed, UINT64_MAX);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.n, 8);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);

  // null is the default for every optional field.
  r = api::parse_completion_request(with(",\"max_tokens\":null,\"temperature\":null,\"stop\":null,\"n\":null"));
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_EQ(r.n, 1);
  EXPECT_EQ(api::parse_completion_request(with(",\"stop\":\"x\"")).stop, std::vector<std::string>{"x"});
}

TEST(OpenAIApi, CompletionPromptShapes) {
  EXPECT_EQ(api::parse_completion_request("{\"model\":\"m\",\"prompt\":[\"one\"]}").prompt_text, "one");
  auto ids = api::parse_completion_request("{\"model\":\"m\",\"prompt\":[1,2,3]}");
  EXPECT_TRUE(ids.prompt_is_ids);
  EXPECT_EQ(ids.prompt_ids, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(api::parse_completion_request("{\"model\":\"m\",\"prompt\":[[4,5]]}").prompt_ids,
            (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(api::parse_completion_request("{\"model\":\"m\",\"prompt\":\"\"}").prompt_text, "");

  for (const char* body : {"{\"model\":\"m\"}", "{\"model\":\"m\",\"prompt\":5}", "{\"model\":\"m\",\"prompt\":[]}",
                           "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", "{\"model\":\"m\",\"prompt\":[1,\"x\"]}",
                           "{\"model\":\"m\",\"prompt\":[[]]}", "{\"model\":\"m\",\"prompt\":{}}"}) {
    ApiError e = completion_error(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, "prompt") << body;
  }
}

TEST(OpenAIApi, CompletionRejectionsNameTheParam) {
  struct Case {
    std::string extra, param;
  };
  const Case cases[] = {
      {",\"max_tokens\":0", "max_tokens"},
      {",\"max_tokens\":-5", "max_tokens"},
      {",\"max_tokens\":1e12", "max_tokens"},         // a float, not an integer
      {",\"max_tokens\":99999999999999", "max_tokens"},  // beyond the limit
      {",\"max_tokens\":\"10\"", "max_tokens"},
      {",\"max_tokens\":2.5", "max_tokens"},
      {",\"temperature\":2.5", "temperature"},
      {",\"temperature\":-0.1", "temperature"},
      {",\"temperature\":\"hot\"", "temperature"},
      {",\"top_p\":0", "top_p"},
      {",\"top_p\":1.01", "top_p"},
      {",\"top_k\":-1", "top_k"},
      {",\"n\":0", "n"},
      {",\"n\":9", "n"},
      {",\"n\":true", "n"},
      {",\"seed\":1.5", "seed"},
      {",\"stop\":5", "stop"},
      {",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "stop"},
      {",\"stop\":[\"\"]", "stop[0]"},
      {",\"stop\":[\"a\",3]", "stop[1]"},
      {",\"stream\":\"yes\"", "stream"},
      {",\"stream_options\":{\"include_usage\":true}", "stream_options"},  // without stream
      {",\"stream\":true,\"stream_options\":{\"bogus\":1}", "stream_options.bogus"},
      {",\"stream\":true,\"stream_options\":{\"include_usage\":1}", "stream_options.include_usage"},
      {",\"logprobs\":2", "logprobs"},
      {",\"echo\":true", "echo"},
      {",\"best_of\":2", "best_of"},
      {",\"suffix\":\"x\"", "suffix"},
      {",\"logit_bias\":{\"1\":5}", "logit_bias"},
      {",\"presence_penalty\":0.5", "presence_penalty"},
      {",\"frequency_penalty\":1", "frequency_penalty"},
      {",\"user\":5", "user"},
      {",\"bogus\":1", "bogus"},
  };
  for (const auto& c : cases) {
    ApiError e = completion_error(with(c.extra));
    EXPECT_EQ(e.status, 400) << c.extra;
    EXPECT_EQ(e.param, c.param) << c.extra << " -> " << e.what();
    EXPECT_EQ(e.type, "invalid_request_error");
    json body = e.body();
    ASSERT_TRUE(body.contains("error"));
    for (const char* k : {"message", "type", "param", "code"}) EXPECT_TRUE(body["error"].contains(k)) << k;
  }
  // Unsupported fields say so.
  EXPECT_NE(std::string(completion_error(with(",\"echo\":true")).what()).find("not supported"), std::string::npos);
  // model: missing or not a string.
  EXPECT_EQ(completion_error("{\"prompt\":\"x\"}").param, "model");
  EXPECT_EQ(completion_error("{\"model\":3,\"prompt\":\"x\"}").param, "model");
}

TEST(OpenAIApi, MalformedBodies) {
  for (const char* body : {"", "{", "nul", "[1,2]", "\"text\"", "{\"model\":\"m\",}", "{\"a\":\"\xff\"}"}) {
    ApiError e = completion_error(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.code, "invalid_json") << body;
  }
  // Nesting deeper than the limit is refused before parsing (no deep recursion).
  std::string deep = "{\"model\":\"m\",\"prompt\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  ApiError e = completion_error(deep);
  EXPECT_EQ(e.code, "invalid_json");
  EXPECT_NE(std::string(e.what()).find("deeper"), std::string::npos);
  // Brackets inside strings do not count.
  std::string in_string = "{\"model\":\"m\",\"prompt\":\"" + std::string(1000, '[') + "\"}";
  EXPECT_EQ(api::parse_completion_request(in_string).prompt_text, std::string(1000, '['));
}

TEST(OpenAIApi, ChatMessagesAndFields) {
  auto r = api::parse_chat_request(
      "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
      "{\"role\":\"developer\",\"content\":\"d\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
      "{\"type\":\"text\",\"text\":\"b\"}],\"name\":\"x\"},{\"role\":\"assistant\",\"content\":\"ok\",\"refusal\":null}],"
      "\"max_completion_tokens\":5,\"logprobs\":false,\"response_format\":{\"type\":\"text\"},\"store\":false}");
  EXPECT_TRUE(r.chat);
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[1].role, "system");
  EXPECT_EQ(r.messages[2].content, "ab");
  EXPECT_EQ(r.max_tokens, 5);
  EXPECT_EQ(api::parse_chat_request(chat_with(",\"max_tokens\":9")).max_tokens, 9);

  struct Case {
    std::string body, param;
  };
  const Case cases[] = {
      {"{\"model\":\"m\"}", "messages"},
      {"{\"model\":\"m\",\"messages\":[]}", "messages"},
      {"{\"model\":\"m\",\"messages\":\"hi\"}", "messages"},
      {"{\"model\":\"m\",\"messages\":[5]}", "messages[0]"},
      {"{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", "messages[0].role"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "messages[0].role"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":7,\"content\":\"x\"}]}", "messages[0].role"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}", "messages[0].content"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
       "messages[0].content[0].type"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"tool_calls\":[]}]}",
       "messages[0].tool_calls"},
      {chat_with(",\"tools\":[]"), "tools"},
      {chat_with(",\"logprobs\":true"), "logprobs"},
      {chat_with(",\"response_format\":{\"type\":\"json_object\"}"), "response_format"},
      {chat_with(",\"max_completion_tokens\":-1"), "max_completion_tokens"},
      {chat_with(",\"max_tokens\":3,\"max_completion_tokens\":4"), "max_completion_tokens"},
      {chat_with(",\"prompt\":\"x\""), "prompt"},
      {chat_with(",\"n\":20"), "n"},
  };
  for (const auto& c : cases) {
    ApiError e = chat_error(c.body);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << " -> " << e.what();
  }
}

TEST(OpenAIApi, ChatTemplate) {
  std::vector<api::ChatMessage> m = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}};
  EXPECT_EQ(render_chat(m), "System: Be brief.\nUser: Hi\nAssistant: Hello.\nUser: Bye\nAssistant:");
  auto stops = chat_implicit_stops();
  EXPECT_NE(std::find(stops.begin(), stops.end(), "\nUser:"), stops.end());
}

TEST(OpenAIApi, ErrorJsonShape) {
  json j = ApiError(401, "Incorrect API key provided", "", "invalid_api_key").body();
  EXPECT_EQ(j["error"]["message"], "Incorrect API key provided");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(j["error"]["param"].is_null());
  EXPECT_EQ(j["error"]["code"], "invalid_api_key");
}
