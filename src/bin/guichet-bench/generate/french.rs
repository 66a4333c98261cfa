//! French names, places and texts the generated requests are made of.

/// Streets, without the number.
pub const STREETS: &[&str] = &[
    "rue Victor Hugo",
    "impasse des Lilas",
    "avenue Jean Jaurès",
    "rue de la République",
    "place de la Mairie",
    "rue Pasteur",
    "chemin des Vignes",
    "rue du Moulin",
    "allée des Tilleuls",
    "boulevard Gambetta",
    "rue de l'Église",
    "rue des Écoles",
    "quai de la Loire",
    "rue Jean Moulin",
    "rue du Général de Gaulle",
    "rue de la Gare",
    "place du Marché",
    "rue des Acacias",
    "chemin du Stade",
    "rue Voltaire",
    "square Louise Michel",
    "rue Émile Zola",
    "avenue de la Libération",
    "rue des Jardins",
    "route de la Forêt",
];

/// Postcode, commune, INSEE code, latitude, longitude.
pub const COMMUNES: &[(&str, &str, &str, f64, f64)] = &[
    ("67000", "Strasbourg", "67482", 48.5734, 7.7521),
    ("67300", "Schiltigheim", "67447", 48.6078, 7.7497),
    ("67400", "Illkirch-Graffenstaden", "67218", 48.5297, 7.7153),
    ("44000", "Nantes", "44109", 47.2184, -1.5536),
    ("44400", "Rezé", "44143", 47.1833, -1.5500),
    ("31000", "Toulouse", "31555", 43.6047, 1.4442),
    ("31770", "Colomiers", "31149", 43.6114, 1.3347),
    ("21000", "Dijon", "21231", 47.3220, 5.0415),
    ("35000", "Rennes", "35238", 48.1173, -1.6778),
    ("69100", "Villeurbanne", "69266", 45.7719, 4.8902),
    ("13100", "Aix-en-Provence", "13001", 43.5297, 5.4474),
    ("59000", "Lille", "59350", 50.6292, 3.0573),
    ("63000", "Clermont-Ferrand", "63113", 45.7772, 3.0870),
    ("29200", "Brest", "29019", 48.3904, -4.4861),
    ("87000", "Limoges", "87085", 45.8336, 1.2611),
];

pub const GIVEN: &[&str] = &[
    "Marie",
    "Jean",
    "Camille",
    "Nicolas",
    "Sophie",
    "Karim",
    "Léa",
    "Thomas",
    "Inès",
    "Michel",
    "Nathalie",
    "Pierre",
    "Chloé",
    "Mohamed",
    "Isabelle",
    "Hugo",
    "Françoise",
    "Louis",
    "Amélie",
    "Yannick",
];

pub const FAMILY: &[&str] = &[
    "Martin", "Bernard", "Dubois", "Durand", "Lefebvre", "Moreau", "Laurent", "Garcia", "Roux", "Petit", "Fournier",
    "Girard", "Bonnet", "Lambert", "Fontaine", "Rousseau", "Mercier", "Benali", "Nguyen", "Le Gall",
];

pub const MAIL_DOMAINS: &[&str] = &["orange.fr", "free.fr", "gmail.com", "laposte.net", "sfr.fr", "wanadoo.fr"];

/// Subject and description per category; the category's own name and description otherwise.
pub const TEXTS: &[(&str, &[(&str, &str)])] = &[
    (
        "voirie",
        &[
            ("Nid-de-poule", "Un nid-de-poule profond s'est formé sur la chaussée, les voitures font des écarts."),
            ("Trottoir abîmé", "Le trottoir est soulevé par les racines, une personne âgée a failli tomber."),
            ("Panneau arraché", "Le panneau stop au carrefour a été arraché et gît sur le bas-côté."),
        ],
    ),
    (
        "eclairage-public",
        &[
            ("Lampadaire éteint", "Le lampadaire devant le numéro indiqué est éteint depuis une semaine."),
            ("Lampadaire qui clignote", "L'éclairage clignote toute la nuit et gêne les riverains."),
            ("Rue dans le noir", "Toute la rue est sans éclairage depuis l'orage de mardi."),
        ],
    ),
    (
        "proprete",
        &[
            ("Dépôt sauvage", "Des sacs et un vieux matelas ont été déposés au pied des conteneurs."),
            ("Tags", "Des tags ont été peints sur le mur de l'école pendant le week-end."),
            ("Corbeille pleine", "La corbeille de l'arrêt de bus déborde depuis plusieurs jours."),
        ],
    ),
    (
        "espaces-verts",
        &[
            ("Branche menaçante", "Une grosse branche du platane est cassée et pend au-dessus du trottoir."),
            ("Tonte", "L'herbe du square n'a pas été tondue depuis le printemps."),
            ("Jeu cassé", "Le toboggan de l'aire de jeux est fendu, les enfants risquent de se blesser."),
        ],
    ),
    (
        "dechets",
        &[
            ("Collecte non faite", "Les poubelles jaunes n'ont pas été ramassées mardi dans notre rue."),
            ("Bac abîmé", "Notre bac d'ordures ménagères a une roue cassée, merci de le remplacer."),
            ("Encombrants", "Je souhaite un rendez-vous pour l'enlèvement d'un canapé et d'une armoire."),
        ],
    ),
    (
        "eau",
        &[
            ("Fuite sur la chaussée", "De l'eau s'écoule en continu d'une plaque sur la chaussée."),
            ("Avaloir bouché", "L'avaloir est bouché par les feuilles, la rue est inondée à chaque pluie."),
            ("Eau trouble", "L'eau du robinet est marron depuis ce matin."),
        ],
    ),
    (
        "stationnement",
        &[
            ("Véhicule ventouse", "Une voiture sans plaque est stationnée au même endroit depuis un mois."),
            ("Stationnement gênant", "Des véhicules se garent sur le trottoir devant l'école à la sortie des classes."),
        ],
    ),
    (
        "bruit",
        &[
            ("Nuisances nocturnes", "Musique forte tous les soirs après minuit dans l'immeuble voisin."),
            ("Aboiements", "Le chien du voisin aboie toute la journée en l'absence de ses maîtres."),
        ],
    ),
    (
        "urbanisme",
        &[
            ("Déclaration préalable", "Je souhaite savoir si une déclaration préalable suffit pour un abri de jardin."),
            ("Permis de construire", "Où en est l'instruction de mon permis de construire déposé le mois dernier ?"),
        ],
    ),
    (
        "etat-civil",
        &[
            ("Acte de naissance", "Je demande une copie intégrale de mon acte de naissance."),
            ("Livret de famille", "J'ai perdu mon livret de famille et souhaite en obtenir un duplicata."),
        ],
    ),
    (
        "cimetiere",
        &[
            ("Renouvellement de concession", "La concession familiale arrive à échéance, comment la renouveler ?"),
            ("Entretien des allées", "Les allées du cimetière sont envahies par les herbes."),
        ],
    ),
    (
        "salle",
        &[
            ("Réservation de salle", "Nous souhaitons réserver la salle des fêtes pour un anniversaire en juin."),
            ("Salle pour une association", "Notre association cherche une salle pour son assemblée générale."),
        ],
    ),
    (
        "occupation-domaine-public",
        &[
            ("Benne", "Demande d'autorisation pour une benne de gravats devant la maison pendant une semaine."),
            ("Déménagement", "Demande de réservation de deux places de stationnement pour un déménagement."),
            ("Terrasse", "Demande d'autorisation de terrasse pour notre café pour la saison d'été."),
        ],
    ),
    (
        "autre",
        &[
            ("Question", "Quels sont les horaires d'ouverture de la mairie pendant les vacances ?"),
            ("Suggestion", "Serait-il possible d'installer un banc près de l'arrêt de bus ?"),
        ],
    ),
];

pub const FOLLOW_UPS: &[&str] = &[
    "",
    " Merci d'intervenir rapidement.",
    " C'est le deuxième signalement.",
    " Situation dangereuse pour les piétons et les enfants.",
    " Je reste disponible pour tout renseignement.",
];

pub const PUBLIC_REPLIES: &[&str] = &[
    "Nous avons bien pris en compte votre demande, une équipe va intervenir.",
    "Votre demande a été transmise au service compétent.",
    "Une intervention est programmée dans les prochains jours.",
];

pub const INTERNAL_NOTES: &[&str] = &[
    "Transmis à l'équipe du secteur nord.",
    "Devis demandé au prestataire.",
    "Déjà signalé la semaine dernière, même adresse.",
    "Voir avec le service des eaux de la métropole.",
];

pub const WAITING_REPLIES: &[&str] = &[
    "Pouvez-vous nous préciser l'adresse exacte et joindre une photo ?",
    "Merci de nous transmettre une pièce justificative.",
];

pub const RESOLVED_REPLIES: &[&str] = &[
    "L'intervention a été réalisée. Merci de votre signalement.",
    "Le problème est résolu.",
    "Votre demande a été traitée, le document vous a été envoyé.",
];

pub const REJECTION_REASONS: &[&str] = &[
    "Ne relève pas de la compétence de la commune : voir avec le département.",
    "Demande en double d'un signalement déjà en cours.",
    "Terrain privé : l'entretien incombe au propriétaire.",
];
