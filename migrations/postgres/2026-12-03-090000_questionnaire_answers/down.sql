DROP TABLE questionnaire_answers;
