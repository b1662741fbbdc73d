/**
 * The Kafka adapters: the production Log on Apache Kafka or Redpanda, through kafkajs.
 */
export { LogKafka, PRODUCER_SETTINGS, type LogKafkaOptions } from "./log-kafka.js";
export { LogKafkaConsumer } from "./log-kafka-consumer.js";
export { LogKafkaError, type LogKafkaErrorCode } from "./errors.js";
export type { KafkaLogLevel, KafkaLogSink } from "./kafka-logging.js";
